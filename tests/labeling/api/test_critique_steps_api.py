import pytest

from tests.labeling.factories import ProjectFactory, import_lines, rater_in

pytestmark = pytest.mark.django_db


def claim(client_for, project, rater):  # type: ignore[no-untyped-def]
    client = client_for(rater)
    task = client.post(f"/api/v1/projects/{project.pk}/next/", {}, format="json").json()
    return client, task


def test_critique_end_to_end(client_for, admin_user):
    project = ProjectFactory(task_kind="critique", members=[admin_user])
    import_lines(
        project, [{"id": "c1", "kind": "critique", "prompt": "Capital of France?", "responses": [{"text": "Berlin."}]}]
    )
    client, task = claim(client_for, project, rater_in(project, "critic"))
    body = {
        "quality": 1,
        "flaws": [{"description": "wrong city", "severity": "critical", "start": 0, "end": 6, "quote": "Berlin"}],
    }

    first = client.post(f"/api/v1/assignments/{task['assignment']}/submit/", body, format="json")
    again = client.post(f"/api/v1/assignments/{task['assignment']}/submit/", body, format="json")

    assert task["item"]["kind"] == "critique"
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["judgement"]["flaws"][0]["quote"] == "Berlin"


def test_critique_bad_offsets_are_400(client_for, admin_user):
    project = ProjectFactory(task_kind="critique", members=[admin_user])
    import_lines(project, [{"id": "c1", "kind": "critique", "prompt": "p", "responses": [{"text": "short"}]}])
    client, task = claim(client_for, project, rater_in(project, "critic"))

    response = client.post(
        f"/api/v1/assignments/{task['assignment']}/submit/",
        {"quality": 3, "flaws": [{"description": "x", "severity": "minor", "start": 2, "end": 50}]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "flaws[0].start"


def test_steps_end_to_end_and_labels_after_stop_rejected(client_for, admin_user):
    project = ProjectFactory(task_kind="steps", members=[admin_user])
    line = {"id": "s1", "kind": "steps", "prompt": "2+2", "responses": [{"steps": ["2+2", "= 5", "done"]}]}
    import_lines(project, [line])
    client, task = claim(client_for, project, rater_in(project, "stepper"))
    url = f"/api/v1/assignments/{task['assignment']}/submit/"

    bad = client.post(url, {"step_labels": [1, -1, 1], "finish_reason": "found_error"}, format="json")
    missing = client.post(url, {"step_labels": [1, -1]}, format="json")
    good = client.post(url, {"step_labels": [1, -1], "finish_reason": "found_error"}, format="json")

    assert task["responses"][0]["steps"] == ["2+2", "= 5", "done"]
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "step_labels[2]")
    assert (missing.status_code, missing.json()["errors"][0]["field"]) == (400, "finish_reason")
    assert good.status_code == 201


def test_comparison_payload_to_a_steps_project_is_400(client_for, admin_user):
    project = ProjectFactory(task_kind="steps", members=[admin_user])
    import_lines(project, [{"id": "s1", "kind": "steps", "prompt": "p", "responses": [{"steps": ["a"]}]}])
    client, task = claim(client_for, project, rater_in(project, "stepper"))

    response = client.post(f"/api/v1/assignments/{task['assignment']}/submit/", {"ranking": [["a"]]}, format="json")

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"step_labels", "finish_reason"}


def test_submit_payloads_are_documented_in_the_schema(client_for, admin_user):
    schema = client_for(admin_user).get("/api/schema/?format=json").json()

    components = schema["components"]["schemas"]
    assert {"ComparisonSubmitRequest", "CritiqueSubmitRequest", "StepsSubmitRequest"} <= set(components)
    assert "step_labels" in components["StepsSubmitRequest"]["properties"]
