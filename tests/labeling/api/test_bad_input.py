"""No input produces a 500: malformed bodies against every API endpoint so far."""

import pytest

from tests.labeling.factories import comparison_line, import_lines

pytestmark = pytest.mark.django_db

BAD_BODIES = [
    "not json",
    "[]",
    "null",
    '{"ranking": "a>b"}',
    '{"ranking": [[1], [{"x": 1}]], "strength": "max"}',
    '{"ranking": [["a"], ["b"]], "strength": 1, "flags": {"a": "harmful"}}',
    '{"ranking": [["a"], ["b"]], "strength": 1, "flags": [1]}',
    '{"ranking": [["a"], ["b"]], "strength": 1, "assist_ratings": {"1": "x"}}',
    '{"ranking": [["a"], ["b"]], "strength": 99999999999999999999}',
    '{"holding": ["x"], "name": {"a": 1}, "overlap": -1, "task_kind": []}',
    '{"reason": ""}',
    '{"status": "exploded", "priority": "high"}',
    '{"name": "' + "x" * 5000 + '"}',
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_malformed_json_never_500(client_for, project, admin_user, rater, body):
    import_lines(project, [comparison_line(1)])
    rater_client, admin_client = client_for(rater), client_for(admin_user)
    task = rater_client.post(f"/api/v1/projects/{project.pk}/next/", {}, format="json").json()
    batch_id = project.batches.get().pk
    calls = [
        (admin_client, "post", "/api/v1/projects/"),
        (admin_client, "patch", f"/api/v1/projects/{project.pk}/batches/{batch_id}/"),
        (rater_client, "post", f"/api/v1/projects/{project.pk}/next/"),
        (rater_client, "post", f"/api/v1/assignments/{task['assignment']}/submit/"),
        (rater_client, "post", f"/api/v1/assignments/{task['assignment']}/skip/"),
    ]

    for client, method, url in calls:
        response = getattr(client, method)(url, data=body, content_type="application/json")
        assert response.status_code < 500, (url, response.status_code, response.content[:300])
        if response.status_code >= 400:
            assert set(response.json()) == {"detail", "code", "errors"}


def test_batch_upload_with_wrong_content_type_is_415(client_for, project, admin_user):
    response = client_for(admin_user).post(f"/api/v1/projects/{project.pk}/batches/", {"file": "x"}, format="json")

    assert response.status_code == 415
