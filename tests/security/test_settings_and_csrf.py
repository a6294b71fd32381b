import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.labeling.factories import comparison_line, import_lines

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    base.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/oversight",
        REDIS_URL="redis://127.0.0.1:6379/15",
        DJANGO_ALLOWED_HOSTS="oversight.example.org",
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SECRET_KEY=secrets.token_urlsafe(64))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "insecure-local-key-only-for-development-and-tests-xxxxxxxxxx"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": secrets.token_urlsafe(64), "DJANGO_DEBUG": "1"}, "DEBUG"),
    ],
)
def test_production_refuses_unsafe_settings(env, message):
    result = run_manage("check", **env)

    assert result.returncode != 0
    assert message in result.stderr


def test_production_cookies_are_secure_and_httponly():
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_HTTPONLY, s.DEBUG)"
    )
    result = run_manage("shell", "-c", code, DJANGO_SECRET_KEY=secrets.token_urlsafe(64))

    assert result.stdout.split()[-5:] == ["True", "True", "True", "True", "False"]


@pytest.mark.django_db
def test_state_changing_browser_calls_without_csrf_token_are_403(project, admin_user, rater):
    batch = import_lines(project, [comparison_line(1)])
    admin_browser = Client(enforce_csrf_checks=True)
    admin_browser.force_login(admin_user)
    rater_browser = Client(enforce_csrf_checks=True)
    rater_browser.force_login(rater)

    responses = [
        admin_browser.post("/api/v1/projects/", {"name": "x"}, content_type="application/json"),
        admin_browser.post(f"/projects/{project.pk}/batches/{batch.pk}/control/", {"status": "paused"}),
        admin_browser.post("/users/new/", {"username": "x", "role": "rater"}),
        admin_browser.post(f"/projects/{project.pk}/members/", {"username": "x"}),
        rater_browser.post(f"/api/v1/projects/{project.pk}/next/", {}, content_type="application/json"),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    batch.refresh_from_db()
    assert batch.status == "live"


@pytest.mark.django_db
def test_token_clients_need_no_csrf(project, admin_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin_user).key}")

    assert client.post("/api/v1/projects/", {"name": "scripted"}, format="json").status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ordering", ["created_by__password", "members__password", "-secret", "name,created_by__username"]
)
def test_ordering_accepts_only_listed_fields(client_for, project, admin_user, ordering):
    response = client_for(admin_user).get(f"/api/v1/projects/?ordering={ordering}")
    batches = client_for(admin_user).get(f"/api/v1/projects/{project.pk}/batches/?ordering={ordering}")

    assert response.status_code == batches.status_code == 400
    assert response.json()["errors"][0]["field"] == "ordering"


@pytest.mark.django_db
def test_listed_ordering_works(client_for, project, admin_user):
    import_lines(project, [comparison_line(1)], name="low", priority=1)
    import_lines(project, [comparison_line(1)], name="high", priority=5)

    names = [
        b["name"]
        for b in client_for(admin_user).get(f"/api/v1/projects/{project.pk}/batches/?ordering=priority").json()
    ]

    assert names == ["low", "high"]
