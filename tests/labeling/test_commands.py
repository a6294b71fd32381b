import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from labeling.models import Batch, Item, Project, ProjectMembership
from labeling.roles import has_role
from tests.labeling.factories import comparison_line, jsonl

pytestmark = pytest.mark.django_db


def run(*args) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_create_user_prints_a_working_token_and_sets_memberships(project, client_for):
    token = run("create_user", "newbie", "--role", "rater", "--password", "s3cret-pass", "--project", str(project.pk))

    user = get_user_model().objects.get(username="newbie")
    assert Token.objects.get(user=user).key == token
    assert has_role(user, "rater")
    assert user.check_password("s3cret-pass")
    assert ProjectMembership.objects.filter(user=user, project=project).exists()


def test_create_user_updates_an_existing_user(project):
    first = run("create_user", "sam", "--role", "rater")

    second = run("create_user", "sam", "--role", "ml", "--project", str(project.pk))

    user = get_user_model().objects.get(username="sam")
    assert first == second
    assert has_role(user, "rater") and has_role(user, "ml")


def test_create_user_with_unknown_project_changes_nothing(db):
    with pytest.raises(CommandError, match="No project with id 999"):
        run("create_user", "ghost", "--role", "rater", "--project", "999")

    assert not get_user_model().objects.filter(username="ghost").exists()


def test_import_batch_command(project, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl([comparison_line(i) for i in range(3)]))

    out = run("import_batch", str(path), "--project", str(project.pk), "--priority", "2")

    batch = Batch.objects.get()
    assert f"Imported 3 items as batch {batch.pk}" in out
    assert batch.priority == 2


def test_import_batch_command_reports_errors_by_line(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl([comparison_line(1), "nope"]))
    err = io.StringIO()

    with pytest.raises(CommandError, match="1 invalid line"):
        call_command("import_batch", str(path), "--project", str(project.pk), stdout=io.StringIO(), stderr=err)

    assert "bad.jsonl: line 2: invalid JSON" in err.getvalue()
    assert Item.objects.count() == 0


def test_import_batch_unknown_project(tmp_path, db):
    with pytest.raises(CommandError, match="No project with id 42"):
        run("import_batch", str(tmp_path / "x.jsonl"), "--project", "42")


def test_seed_demo_is_idempotent(db):
    run("seed_demo")
    run("seed_demo")

    project = Project.objects.get()
    assert Item.objects.filter(batch__project=project).count() == 2312
    assert set(project.members.values_list("username", flat=True)) == {"admin", "ml", "rater1", "rater2"}
