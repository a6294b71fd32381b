import pytest

from labeling.models import Judgement
from tests.labeling.factories import comparison_line, import_lines

pytestmark = pytest.mark.django_db


def next_url(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/next/"


def test_next_returns_task_in_display_order_with_sanitized_html(client_for, project, rater):
    import_lines(project, [comparison_line(1, prompt="Hi <script>alert(1)</script> **bold**")])

    response = client_for(rater).post(next_url(project), {}, format="json")

    body = response.json()
    assert response.status_code == 200
    assert set(body) >= {"assignment", "item", "responses", "assists", "expires_at"}
    assert sorted(r["id"] for r in body["responses"]) == ["a", "b"]
    assert "<script>" not in body["item"]["prompt_html"]
    assert "<strong>bold</strong>" in body["item"]["prompt_html"]


def test_next_is_204_when_nothing_is_left(client_for, project, rater):
    response = client_for(rater).post(next_url(project), {}, format="json")

    assert response.status_code == 204


def test_full_round_submit_201_then_200_same_id(client_for, project, rater):
    import_lines(project, [comparison_line(1)])
    client = client_for(rater)
    task = client.post(next_url(project), {}, format="json").json()
    body = {"ranking": [["a"], ["b"]], "strength": 2, "flags": {"b": ["harmful"]}, "rationale": "b is unsafe"}

    first = client.post(f"/api/v1/assignments/{task['assignment']}/submit/", body, format="json")
    second = client.post(f"/api/v1/assignments/{task['assignment']}/submit/", body, format="json")

    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["judgement"]["id"] == second.json()["judgement"]["id"]
    assert Judgement.objects.get().flags == {"b": ["harmful"]}


def test_invalid_submit_is_400_with_field(client_for, project, rater):
    import_lines(project, [comparison_line(1)])
    client = client_for(rater)
    task = client.post(next_url(project), {}, format="json").json()

    response = client.post(f"/api/v1/assignments/{task['assignment']}/submit/", {"ranking": "a>b"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "ranking"


def test_other_rater_cannot_submit_or_skip(client_for, project, rater, db):
    from tests.labeling.factories import rater_in

    import_lines(project, [comparison_line(1)])
    task = client_for(rater).post(next_url(project), {}, format="json").json()
    colleague = client_for(rater_in(project, "colleague"))

    submit = colleague.post(
        f"/api/v1/assignments/{task['assignment']}/submit/", {"ranking": [["a"], ["b"]], "strength": 1}, format="json"
    )
    skip = colleague.post(f"/api/v1/assignments/{task['assignment']}/skip/", {"reason": "x"}, format="json")

    assert (submit.status_code, skip.status_code) == (404, 404)
    assert Judgement.objects.count() == 0


def test_skip(client_for, project, rater):
    import_lines(project, [comparison_line(1)])
    client = client_for(rater)
    task = client.post(next_url(project), {}, format="json").json()

    response = client.post(f"/api/v1/assignments/{task['assignment']}/skip/", {"reason": "broken item"}, format="json")

    assert response.status_code == 200
    assert client.post(next_url(project), {}, format="json").status_code == 204


def test_non_member_gets_404_and_admin_role_gets_403(client_for, project, outsider, admin_user):
    import_lines(project, [comparison_line(1)])

    assert client_for(outsider).post(next_url(project), {}, format="json").status_code == 404
    assert client_for(admin_user).post(next_url(project), {}, format="json").status_code == 403


def test_label_page_renders_config_via_json_script(project, rater):
    from django.test import Client

    client = Client()
    client.force_login(rater)

    page = client.get(f"/projects/{project.pk}/label/").content.decode()

    assert '<script id="label-config" type="application/json">' in page
    assert "/api/v1/assignments/__id__/submit/" in page
