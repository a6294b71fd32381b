import pytest

from assist.models import AssistArtifact
from assist.selectors import assistance_report
from assist.services.generation import assist_plan_batch, assist_run_chunk
from labeling.models import Assignment, Judgement
from labeling.services.assignment import assignment_claim_next
from labeling.services.judgement import ComparisonAnswer, judgement_submit
from tests.labeling.factories import ProjectFactory, comparison_line, import_lines, rater_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def assisted_batch(project, tiny_backend):  # type: ignore[no-untyped-def]
    batch = import_lines(project, [comparison_line(1)])
    assist_run_chunk(artifact_ids=assist_plan_batch(batch=batch))
    return batch


def test_next_task_carries_labelled_critiques_and_records_what_was_shown(client_for, project, rater, assisted_batch):
    body = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/", {}, format="json").json()

    assert [a["response"] for a in body["assists"]] == ["a", "b"]
    assert all(a["label"] == "AI-written critique" and a["kind"] == "critique" for a in body["assists"])
    assert Assignment.objects.get(pk=body["assignment"]).assists_shown == [a["id"] for a in body["assists"]]


def test_helpfulness_ratings_are_stored_with_the_judgement(client_for, project, rater, assisted_batch):
    client = client_for(rater)
    task = client.post(f"/api/v1/projects/{project.pk}/next/", {}, format="json").json()
    first = str(task["assists"][0]["id"])

    response = client.post(
        f"/api/v1/assignments/{task['assignment']}/submit/",
        {"ranking": [["a"], ["b"]], "strength": 1, "assist_ratings": {first: 6}},
        format="json",
    )

    assert response.status_code == 201
    assert Judgement.objects.get().assist_ratings == {first: 6}


def test_unassisted_arm_sees_no_assistance(client_for, admin_user, tiny_backend):
    project = ProjectFactory(assistance_mode="off", members=[admin_user])
    batch = import_lines(project, [comparison_line(1)])
    assist_run_chunk(artifact_ids=assist_plan_batch(batch=batch))
    rater = rater_in(project, "plain")

    body = client_for(rater).post(f"/api/v1/projects/{project.pk}/next/", {}, format="json").json()

    assert body["assists"] == [] and body["assistance_shown"] is False
    assert AssistArtifact.objects.filter(item__batch=batch, status="done").count() == 2


def test_batch_detail_and_regenerate_endpoint(
    client_for, project, admin_user, tiny_backend, django_capture_on_commit_callbacks
):
    batch = import_lines(project, [comparison_line(1), comparison_line(2)])
    client = client_for(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(f"/api/v1/projects/{project.pk}/batches/{batch.pk}/assist/")
    detail = client.get(f"/api/v1/projects/{project.pk}/batches/{batch.pk}/").json()

    assert queued.status_code == 202
    assert detail["assistance"] == {"total": 4, "done": 4, "failed": 0, "running": 0, "pending": 0}


def test_rater_cannot_trigger_generation(client_for, project, rater):
    batch = import_lines(project, [comparison_line(1)])

    assert client_for(rater).post(f"/api/v1/projects/{project.pk}/batches/{batch.pk}/assist/").status_code == 403


def judge(project, rater, *, shown: bool, ranking, time_ms: int, flags=None):  # type: ignore[no-untyped-def]
    assignment = assignment_claim_next(project=project, rater=rater)
    Assignment.objects.filter(pk=assignment.pk).update(assistance_shown=shown)
    assignment.refresh_from_db()
    return judgement_submit(
        assignment=assignment,
        answer=ComparisonAnswer(ranking=ranking, strength=1, time_spent_ms=time_ms, flags=flags or {}),
    )[0]


def test_report_compares_arms_on_hand_computed_data(admin_user, client_for):
    project = ProjectFactory(overlap=2, assistance_mode="randomised", gold_rate=1.0, members=[admin_user])
    import_lines(project, [comparison_line(1, gold={"ranking": [["a"], ["b"]]}), comparison_line(2)])
    helped, unhelped = rater_in(project, "helped"), rater_in(project, "unhelped")
    # gold_rate 1: each rater gets the gold item 1 first, then item 2.
    # Item 1 (gold a>b): helped says a>b (correct), unhelped b>a (wrong): they disagree.
    # Item 2: both say a>b: they agree.
    first = judge(project, helped, shown=True, ranking=[["a"], ["b"]], time_ms=10_000, flags={"b": ["harmful"]})
    second = judge(project, unhelped, shown=False, ranking=[["b"], ["a"]], time_ms=30_000)
    judge(project, helped, shown=True, ranking=[["a"], ["b"]], time_ms=20_000)
    judge(project, unhelped, shown=False, ranking=[["a"], ["b"]], time_ms=40_000)
    assert first.item_id == second.item_id and first.item.gold is not None

    report = assistance_report(project=project)
    api = client_for(admin_user).get(f"/api/v1/projects/{project.pk}/assistance-report/")

    assisted, unassisted = report["arms"]
    assert (assisted["arm"], assisted["judgements"]) == ("assisted", 2)
    assert assisted["seconds_per_task"]["value"] == 15.0
    assert unassisted["seconds_per_task"]["value"] == 35.0
    assert (assisted["gold_accuracy"]["value"], assisted["gold_accuracy"]["n"]) == (1.0, 1)
    assert (unassisted["gold_accuracy"]["value"], unassisted["gold_accuracy"]["n"]) == (0.0, 1)
    assert (assisted["agreement_with_others"]["value"], assisted["agreement_with_others"]["n"]) == (0.5, 2)
    assert assisted["flags_per_task"]["value"] == 0.5
    assert assisted["gold_accuracy"]["ci95"][0] < 1.0  # Wilson interval with n=1 is wide
    assert api.status_code == 200 and api.json()["arms"][0]["judgements"] == 2


def test_report_counts_flaws_found_per_critique_task_by_arm(admin_user):
    from labeling.services.judgement import CritiqueAnswer

    project = ProjectFactory(task_kind="critique", overlap=1, assistance_mode="randomised", members=[admin_user])
    lines = [{"id": f"c{i}", "kind": "critique", "prompt": "p", "responses": [{"text": "some text"}]} for i in range(3)]
    import_lines(project, lines)
    rater = rater_in(project, "critic")
    for shown, n_flaws in [(True, 3), (True, 1), (False, 1)]:
        assignment = assignment_claim_next(project=project, rater=rater)
        Assignment.objects.filter(pk=assignment.pk).update(assistance_shown=shown)
        flaws = [{"description": f"flaw {i}", "severity": "minor"} for i in range(n_flaws)]
        judgement_submit(assignment=assignment, answer=CritiqueAnswer(quality=4, flaws=flaws))

    assisted, unassisted = assistance_report(project=project)["arms"]

    assert (assisted["flaws_per_critique_task"]["value"], assisted["flaws_per_critique_task"]["n"]) == (2.0, 2)
    assert (unassisted["flaws_per_critique_task"]["value"], unassisted["flaws_per_critique_task"]["n"]) == (1.0, 1)
    assert assisted["flags_per_task"]["n"] == 0


def test_report_page_renders(admin_user, project):
    from django.test import Client

    client = Client()
    client.force_login(admin_user)

    response = client.get(f"/projects/{project.pk}/assistance/")

    assert response.status_code == 200
    assert "unassisted" in response.content.decode()
