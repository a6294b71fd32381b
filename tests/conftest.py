from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.labeling.factories import ProjectFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
HH_FILE = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"
if not HH_FILE.is_file():
    HH_FILE = ROOT / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"


@pytest.fixture
def hh_file() -> Path:
    return HH_FILE


@pytest.fixture
def admin_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="alice-admin", role="admin")


@pytest.fixture
def ml_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="mel-ml", role="ml")


@pytest.fixture
def rater(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="rita-rater", role="rater")


@pytest.fixture
def outsider(db):  # type: ignore[no-untyped-def]
    """A rater who belongs to no project of the tests."""
    return UserFactory(username="otto-outsider", role="rater")


@pytest.fixture
def project(admin_user, ml_user, rater):  # type: ignore[no-untyped-def]
    return ProjectFactory(members=[admin_user, ml_user, rater], created_by=admin_user)


@pytest.fixture
def client_for():  # type: ignore[no-untyped-def]
    """An API client authenticated as the given user (token auth, like scripts)."""

    def make(user) -> APIClient:  # type: ignore[no-untyped-def]
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
