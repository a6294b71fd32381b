import io

import pytest
from django.test import Client

from labeling.models import Batch, Item
from tests.labeling.factories import comparison_line, import_lines, jsonl

pytestmark = pytest.mark.django_db


def batches_url(project) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/projects/{project.pk}/batches/"


def upload(client, project, data: bytes, **fields):  # type: ignore[no-untyped-def]
    payload = {"file": io.BytesIO(data), **fields}
    payload["file"].name = "batch.jsonl"
    return client.post(batches_url(project), payload, format="multipart")


def test_admin_uploads_a_batch(client_for, project, admin_user):
    response = upload(
        client_for(admin_user), project, jsonl([comparison_line(i) for i in range(12)]), name="first", priority="5"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["items"] == 12
    batch = Batch.objects.get(pk=body["id"])
    assert (batch.name, batch.priority, batch.status, batch.created_by) == ("first", 5, "live", admin_user)


def test_bad_upload_answers_400_with_line_and_field_and_stores_nothing(client_for, project, admin_user):
    response = upload(client_for(admin_user), project, jsonl([comparison_line(1), comparison_line(2, prompt=None)]))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_file"
    assert body["errors"] == [{"line": 2, "field": "prompt", "message": "missing required field 'prompt'"}]
    assert Item.objects.count() == 0


def test_missing_file_is_a_400_naming_the_field(client_for, project, admin_user):
    response = client_for(admin_user).post(batches_url(project), {"name": "x"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"


def test_oversized_upload_answers_413(client_for, project, admin_user, settings):
    settings.OVERSIGHT_IMPORT_MAX_FILE_BYTES = 1000

    response = upload(client_for(admin_user), project, jsonl([comparison_line(i) for i in range(50)]))

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert Item.objects.count() == 0


def test_huge_declared_content_length_is_refused_before_reading(project, admin_user, settings):
    settings.OVERSIGHT_IMPORT_MAX_FILE_BYTES = 1000
    client = Client()
    client.force_login(admin_user)

    response = client.post(
        batches_url(project),
        data=b"x" * 10,
        content_type="multipart/form-data; boundary=zz",
        CONTENT_LENGTH="999999999",
    )

    assert response.status_code == 413


def test_ten_thousand_part_multipart_is_a_400(project, admin_user):
    client = Client()
    client.force_login(admin_user)
    parts = "".join(f'--zz\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n' for i in range(10_000))
    body = (parts + "--zz--\r\n").encode()

    response = client.post(batches_url(project), data=body, content_type="multipart/form-data; boundary=zz")

    assert response.status_code == 400
    assert response.json()["detail"]
    assert Batch.objects.count() == 0


@pytest.mark.parametrize("user_fixture", ["rater", "ml_user"])
def test_only_admins_upload(client_for, project, request, user_fixture):
    response = upload(client_for(request.getfixturevalue(user_fixture)), project, jsonl([comparison_line(1)]))

    assert response.status_code == 403
    assert Batch.objects.count() == 0


def test_admin_of_another_project_gets_404(client_for, project, db):
    from tests.labeling.factories import UserFactory

    stranger = UserFactory(username="other-admin", role="admin")

    response = upload(client_for(stranger), project, jsonl([comparison_line(1)]))

    assert response.status_code == 404
    assert Batch.objects.count() == 0


def test_batch_detail_reports_progress(client_for, project, ml_user):
    batch = import_lines(project, [comparison_line(i) for i in range(4)])
    Item.objects.filter(batch=batch, external_id__in=["q-0", "q-1"]).update(judgement_count=1)
    Item.objects.filter(batch=batch, external_id="q-2").update(lease_count=1)

    response = client_for(ml_user).get(f"{batches_url(project)}{batch.pk}/")

    assert response.status_code == 200
    assert response.json()["progress"] == {
        "items": 4,
        "complete": 2,
        "started": 0,
        "leased": 1,
        "judgements": 2,
        "judgements_target": 4,
        "percent": 50.0,
    }


def test_batch_list_query_count_is_constant(client_for, project, ml_user, django_assert_max_num_queries):
    for n in range(5):
        import_lines(project, [comparison_line(1)], name=f"b{n}")

    with django_assert_max_num_queries(4):
        response = client_for(ml_user).get(batches_url(project))

    assert len(response.json()) == 5


def test_admin_pauses_a_batch(client_for, project, admin_user):
    batch = import_lines(project, [comparison_line(1)])

    response = client_for(admin_user).patch(
        f"{batches_url(project)}{batch.pk}/", {"status": "paused", "priority": 9}, format="json"
    )

    assert response.status_code == 200
    batch.refresh_from_db()
    assert (batch.status, batch.priority) == ("paused", 9)


def test_rater_cannot_see_batches(client_for, project, rater):
    batch = import_lines(project, [comparison_line(1)])

    assert client_for(rater).get(batches_url(project)).status_code == 403
    assert client_for(rater).get(f"{batches_url(project)}{batch.pk}/").status_code == 403
