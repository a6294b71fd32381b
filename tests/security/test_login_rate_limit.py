import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from tests.labeling.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_counters():  # type: ignore[no-untyped-def]
    cache.clear()
    yield
    cache.clear()


def attempt(username: str, password: str, ip: str = "10.0.0.1") -> int:
    try:
        return Client(REMOTE_ADDR=ip).post("/accounts/login/", {"username": username, "password": password}).status_code
    finally:
        connection.close()


def test_fifty_parallel_guesses_get_at_most_the_allowed_number_of_tries(settings):
    settings.OVERSIGHT_LOGIN_RATE = "10/m"
    UserFactory(username="victim")
    barrier = threading.Barrier(50)

    def guess(i: int) -> int:
        barrier.wait()
        return attempt("victim", f"wrong-{i}", ip=f"10.0.{i}.1")

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(guess, range(50)))

    assert codes.count(200) == 10  # the login form re-rendered with "wrong password"
    assert codes.count(429) == 40


def test_the_right_password_is_refused_once_limited(settings):
    settings.OVERSIGHT_LOGIN_RATE = "3/m"
    UserFactory(username="victim2")
    for i in range(3):
        attempt("victim2", f"wrong-{i}")

    assert attempt("victim2", "pw-for-tests-1") == 429


def test_a_normal_login_works():
    UserFactory(username="normal")

    assert attempt("normal", "pw-for-tests-1") == 302
