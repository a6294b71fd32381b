import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client

from labeling.models import Judgement
from labeling.services.assignment import assignment_claim_next
from labeling.services.judgement import ComparisonAnswer, judgement_submit
from tests.labeling.factories import UserFactory, comparison_line, import_lines

pytestmark = pytest.mark.django_db


@pytest.fixture
def judgement(project, rater):  # type: ignore[no-untyped-def]
    import_lines(project, [comparison_line(1)])
    assignment = assignment_claim_next(project=project, rater=rater)
    return judgement_submit(
        assignment=assignment, answer=ComparisonAnswer(ranking=[["a"], ["b"]], strength=1, rationale="first")
    )[0]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_judgements_cannot_be_edited_or_deleted_through_the_api(client_for, judgement, rater, admin_user, method):
    url = f"/api/v1/assignments/{judgement.assignment_id}/submit/"

    for user in (rater, admin_user):
        response = getattr(client_for(user), method)(url, {"ranking": [["b"], ["a"]], "strength": 1}, format="json")
        assert response.status_code in (403, 405)

    judgement.refresh_from_db()
    assert judgement.ranking == [["a"], ["b"]]


def test_admin_role_can_view_but_not_change_judgements_in_django_admin(judgement, admin_user):
    client = Client()
    client.force_login(admin_user)

    view = client.get(f"/admin/labeling/judgement/{judgement.pk}/change/")
    change = client.post(f"/admin/labeling/judgement/{judgement.pk}/change/", {"rationale": "rewritten"})
    delete = client.post(f"/admin/labeling/judgement/{judgement.pk}/delete/", {"post": "yes"})

    judgement.refresh_from_db()
    assert view.status_code == 200
    assert change.status_code == 403 and delete.status_code == 403
    assert judgement.rationale == "first"


def test_raters_have_no_django_admin(judgement, rater):
    client = Client()
    client.force_login(rater)

    assert client.get(f"/admin/labeling/judgement/{judgement.pk}/change/").status_code == 302


def test_superuser_corrections_are_audited(judgement):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(root)
    form = {
        "ranking": '[["a"], ["b"]]',
        "strength": "1",
        "flags": "{}",
        "flaws": "[]",
        "critique_ratings": "{}",
        "rationale": "corrected typo",
        "assist_ratings": "{}",
        "time_spent_ms": "",
        "quality": "",
        "step_labels": "null",
        "finish_reason": "",
    }

    response = client.post(f"/admin/labeling/judgement/{judgement.pk}/change/", form)

    judgement.refresh_from_db()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert judgement.rationale == "corrected typo"
    entry = LogEntry.objects.get(object_id=str(judgement.pk), action_flag=CHANGE)
    assert entry.user == root and "Rationale" in entry.get_change_message()


def test_success_is_only_reported_after_commit(client_for, project, rater, monkeypatch):
    """A failure at commit time surfaces as an error, never as a 201 for a judgement that is not stored."""
    from django.core.cache import cache
    from django.db import transaction

    cache.delete(f"oversight:stats-scheduled:{project.pk}")  # the submit will queue a stats refresh on commit
    import_lines(project, [comparison_line(1)])
    client = client_for(rater)
    task = client.post(f"/api/v1/projects/{project.pk}/next/", {}, format="json").json()

    def broken_on_commit(func, using=None, robust=False):  # type: ignore[no-untyped-def]
        raise RuntimeError("commit hook failed")

    monkeypatch.setattr(transaction, "on_commit", broken_on_commit)
    with pytest.raises(RuntimeError):
        client.post(
            f"/api/v1/assignments/{task['assignment']}/submit/",
            {"ranking": [["a"], ["b"]], "strength": 1},
            format="json",
        )

    assert Judgement.objects.count() == 0
