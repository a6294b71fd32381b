import pytest
from django.test import Client

from common.exceptions import ApplicationError
from labeling.models import Adjudication, ProjectStats, RaterQuality
from labeling.services.assignment import assignment_claim_next
from labeling.services.judgement import ComparisonAnswer, judgement_submit
from labeling.services.quality import adjudication_record, project_stats_refresh, rater_reinstate
from tests.labeling.factories import ProjectFactory, comparison_line, import_lines, rater_in

pytestmark = pytest.mark.django_db

GOLD = {"ranking": [["a"], ["b"]]}


def judge(project, rater, ranking, strength=1):  # type: ignore[no-untyped-def]
    assignment = assignment_claim_next(project=project, rater=rater)
    return judgement_submit(assignment=assignment, answer=ComparisonAnswer(ranking=ranking, strength=strength))[0]


def test_gold_items_are_mixed_in_at_the_project_rate(admin_user):
    project = ProjectFactory(gold_rate=0.3, gold_min_accuracy=0, members=[admin_user])
    import_lines(project, [comparison_line(i, gold=GOLD) for i in range(100)], name="gold")
    import_lines(project, [comparison_line(i) for i in range(100)], name="normal")
    rater = rater_in(project, "r")

    served = [bool(judge(project, rater, [["a"], ["b"]]).item.gold) for _ in range(100)]

    assert 15 <= sum(served) <= 45


def test_task_payload_does_not_reveal_gold(client_for, admin_user):
    project = ProjectFactory(gold_rate=1.0, members=[admin_user])
    import_lines(project, [comparison_line(1, gold=GOLD)])
    rater = rater_in(project, "r")

    body = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/", {}, format="json").content.decode()

    assert "gold" not in body and "ranking" not in body


def test_rater_under_threshold_is_suspended_then_reinstated(admin_user):
    project = ProjectFactory(gold_rate=1.0, gold_min_accuracy=0.6, gold_min_judged=3, members=[admin_user])
    import_lines(project, [comparison_line(i, gold=GOLD) for i in range(6)])
    import_lines(project, [comparison_line(i) for i in range(3)], name="normal")
    rater = rater_in(project, "careless")
    for ranking in ([["a"], ["b"]], [["b"], ["a"]], [["b"], ["a"]]):  # 1 of 3 right
        judge(project, rater, ranking)

    with pytest.raises(ApplicationError) as caught:
        assignment_claim_next(project=project, rater=rater)
    quality = RaterQuality.objects.get(project=project, rater=rater)
    rater_reinstate(project=project, rater_id=rater.pk, by=admin_user)

    assert (caught.value.status_code, caught.value.code) == (403, "suspended")
    assert (quality.gold_judged, quality.gold_correct, quality.suspended) == (3, 1, True)
    assert assignment_claim_next(project=project, rater=rater) is not None


def test_threshold_waits_for_the_minimum_number_of_gold_judgements(admin_user):
    project = ProjectFactory(gold_rate=1.0, gold_min_accuracy=0.9, gold_min_judged=5, members=[admin_user])
    import_lines(project, [comparison_line(i, gold=GOLD) for i in range(6)])
    rater = rater_in(project, "new")
    for _ in range(4):
        judge(project, rater, [["b"], ["a"]])

    assert assignment_claim_next(project=project, rater=rater) is not None


def test_stats_snapshot_has_every_figure(admin_user):
    project = ProjectFactory(overlap=2, members=[admin_user])
    import_lines(project, [comparison_line(1), comparison_line(2)])
    ann, bob = rater_in(project, "ann"), rater_in(project, "bob")
    judge(project, ann, [["a"], ["b"]], 2)
    judge(project, bob, [["a"], ["b"]], 2)
    judge(project, ann, [["a"], ["b"]], 1)
    judge(project, bob, [["b"], ["a"]], 3)

    stats = project_stats_refresh(project=project)

    data = stats.data
    assert stats.judgement_count == 4
    assert data["agreement"]["pairwise_agreement"] == {"value": 0.5, "pairs": 2}
    assert data["agreement"]["krippendorff_alpha_ordinal"]["units"] == 2
    assert [r["username"] for r in data["raters"]] == ["ann", "bob"]
    assert [r["judgements"] for r in data["raters"]] == [2, 2]
    assert len(data["disputed_items"]) == 1
    assert data["batches"][0]["judgements"] == 4 and data["batches"][0]["complete"] == 2
    assert data["batches"][0]["eta_hours"] == 0
    assert dict(data["strength_distribution"]) == {1: 1, 2: 2, 3: 1}
    assert [value for _, value in data["agreement_per_day"]] == [0.5]  # one item agreed, one did not
    assert data["batches"][0]["assistance"] == {"done": 0, "pending": 0, "failed": 0}


def test_submit_schedules_a_debounced_refresh(admin_user, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    project = ProjectFactory(overlap=1, members=[admin_user])
    import_lines(project, [comparison_line(1), comparison_line(2)])
    rater = rater_in(project, "r")
    cache.delete(f"oversight:stats-scheduled:{project.pk}")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        judge(project, rater, [["a"], ["b"]])
        judge(project, rater, [["a"], ["b"]])

    assert len(callbacks) == 1
    assert ProjectStats.objects.get(project=project).judgement_count == 2


def test_adjudication_validates_and_replaces(admin_user):
    project = ProjectFactory(members=[admin_user])
    batch = import_lines(project, [comparison_line(1)])
    item = batch.items.get()

    with pytest.raises(ApplicationError):
        adjudication_record(item=item, adjudicator=admin_user, ranking=[["a"], ["zz"]])
    adjudication_record(item=item, adjudicator=admin_user, ranking=[["a"], ["b"]])
    adjudication_record(item=item, adjudicator=admin_user, ranking=[["b"], ["a"]], note="b is safer")

    assert Adjudication.objects.get(item=item).ranking == [["b"], ["a"]]


def test_dashboard_query_count_does_not_grow_with_judgements(admin_user, django_assert_max_num_queries):
    project = ProjectFactory(overlap=1, members=[admin_user])
    import_lines(project, [comparison_line(i) for i in range(30)])
    rater = rater_in(project, "r")
    for _ in range(30):
        judge(project, rater, [["a"], ["b"]])
    project_stats_refresh(project=project)
    client = Client()
    client.force_login(admin_user)

    with django_assert_max_num_queries(8):
        response = client.get(f"/projects/{project.pk}/dashboard/")

    assert response.status_code == 200
    assert "Pairwise agreement" in response.content.decode()


def test_admin_pages_adjudicate_control_batches_and_members(admin_user):
    project = ProjectFactory(overlap=2, members=[admin_user])
    batch = import_lines(project, [comparison_line(1)])
    ann, bob = rater_in(project, "ann"), rater_in(project, "bob")
    judge(project, ann, [["a"], ["b"]])
    judge(project, bob, [["b"], ["a"]])
    project_stats_refresh(project=project)
    item = batch.items.get()
    client = Client()
    client.force_login(admin_user)

    listing = client.get(f"/projects/{project.pk}/adjudication/").content.decode()
    detail = client.get(f"/projects/{project.pk}/adjudication/{item.pk}/").content.decode()
    posted = client.post(f"/projects/{project.pk}/adjudication/{item.pk}/", {"ranking": "b>a", "note": "ok"})
    bad = client.post(f"/projects/{project.pk}/adjudication/{item.pk}/", {"ranking": "b>zz"})
    paused = client.post(f"/projects/{project.pk}/batches/{batch.pk}/control/", {"status": "paused", "priority": "3"})
    removed = client.post(f"/projects/{project.pk}/members/", {"username": "bob", "action": "remove"})

    assert item.external_id in listing and "no majority" in listing
    assert "ann" in detail and "bob" in detail
    assert posted.status_code == 302 and Adjudication.objects.get(item=item).ranking == [["b"], ["a"]]
    assert bad.status_code == 400
    batch.refresh_from_db()
    assert paused.status_code == 302 and (batch.status, batch.priority) == ("paused", 3)
    assert removed.status_code == 302 and not project.members.filter(username="bob").exists()


def test_quality_pages_are_for_admins(rater, project):
    client = Client()
    client.force_login(rater)

    assert client.get(f"/projects/{project.pk}/dashboard/").status_code == 403
    assert client.get(f"/projects/{project.pk}/adjudication/").status_code == 403


def test_stats_api_and_adjudication_api(client_for, admin_user, ml_user, rater):
    project = ProjectFactory(overlap=1, members=[admin_user, ml_user, rater])
    batch = import_lines(project, [comparison_line(1)])
    item = batch.items.get()

    pending = client_for(ml_user).get(f"/api/v1/projects/{project.pk}/stats/")
    project_stats_refresh(project=project)
    ready = client_for(ml_user).get(f"/api/v1/projects/{project.pk}/stats/")
    adjudicated = client_for(admin_user).post(
        f"/api/v1/projects/{project.pk}/items/{item.pk}/adjudication/", {"ranking": [["a"], ["b"]]}, format="json"
    )
    forbidden = client_for(rater).post(
        f"/api/v1/projects/{project.pk}/items/{item.pk}/adjudication/", {"ranking": [["a"], ["b"]]}, format="json"
    )

    assert pending.status_code == 202
    assert ready.status_code == 200 and "agreement" in ready.json()["data"]
    assert adjudicated.status_code == 200
    assert forbidden.status_code == 403
