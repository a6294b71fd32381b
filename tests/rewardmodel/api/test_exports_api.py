import io
import zipfile
from unittest import mock

import pytest

from rewardmodel.models import DatasetSnapshot
from rewardmodel.services import snapshots
from tests.labeling.factories import ProjectFactory, UserFactory
from tests.rewardmodel.factories import answer, export, judge

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged(export_project, two_items):  # type: ignore[no-untyped-def]
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["b"], ["a"]], 1)})
    return export_project


@pytest.fixture
def other_ml(export_project):  # type: ignore[no-untyped-def]
    """ML staff on the same project, who did not make the export."""
    user = UserFactory(username="olga-ml", role="ml")
    export_project.members.add(user)
    return user


def body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content)


def test_ml_staff_export_see_and_download(judged, ml_user, client_for):
    client = client_for(ml_user)

    created = client.post(
        "/api/v1/exports/", {"projects": [judged.pk], "test_fraction": 0, "name": "first"}, format="json"
    )

    assert created.status_code == 202
    snapshot_id = created.json()["id"]
    detail = client.get(f"/api/v1/exports/{snapshot_id}/").json()
    assert (detail["status"], detail["rows"], detail["format"], detail["created_by"]) == (
        "done",
        2,
        "trl-jsonl",
        "mel-ml",
    )
    assert len(detail["content_hash"]) == 64
    single = client.get(f"/api/v1/exports/{snapshot_id}/download/?file=train.jsonl")
    assert single.status_code == 200
    assert body(single).count(b"\n") == 2
    archive = client.get(f"/api/v1/exports/{snapshot_id}/download/")
    assert archive["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(body(archive))).namelist()
    assert names == [f"oversight-export-{snapshot_id}/train.jsonl", f"oversight-export-{snapshot_id}/README.md"]


def test_the_zip_holds_the_exact_files(judged, ml_user, client_for):
    snapshot = export(ml_user, projects=(judged.pk,), format="parquet")

    archive = zipfile.ZipFile(io.BytesIO(body(client_for(ml_user).get(f"/api/v1/exports/{snapshot.pk}/download/"))))

    for entry in snapshot.files:
        assert (
            archive.read(f"oversight-export-{snapshot.pk}/{entry['name']}")
            == (snapshot.directory / entry["name"]).read_bytes()
        )


@pytest.mark.parametrize("role_user", ["rater", "admin_user"])
def test_other_roles_are_forbidden_everywhere(judged, ml_user, client_for, request, role_user):
    snapshot = export(ml_user, projects=(judged.pk,))
    client = client_for(request.getfixturevalue(role_user))

    responses = [
        client.post("/api/v1/exports/", {"projects": [judged.pk]}, format="json"),
        client.get("/api/v1/exports/"),
        client.get(f"/api/v1/exports/{snapshot.pk}/"),
        client.get(f"/api/v1/exports/{snapshot.pk}/download/"),
    ]

    assert [r.status_code for r in responses] == [403] * 4
    assert DatasetSnapshot.objects.count() == 1


def test_anonymous_callers_are_refused(judged, ml_user, client_for):
    snapshot = export(ml_user, projects=(judged.pk,))

    responses = [client_for(None).get(url) for url in ("/api/v1/exports/", f"/api/v1/exports/{snapshot.pk}/")]

    assert {r.status_code for r in responses} <= {401, 403}


def test_another_ml_users_export_does_not_exist(judged, ml_user, other_ml, client_for):
    snapshot = export(ml_user, projects=(judged.pk,))
    client = client_for(other_ml)

    assert client.get(f"/api/v1/exports/{snapshot.pk}/").status_code == 404
    assert client.get(f"/api/v1/exports/{snapshot.pk}/download/").status_code == 404
    assert client.get("/api/v1/exports/").json() == []


def test_exporting_a_project_you_are_not_in_is_a_400_naming_the_field(judged, ml_user, client_for):
    foreign = ProjectFactory()

    response = client_for(ml_user).post("/api/v1/exports/", {"projects": [foreign.pk]}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "projects", "message": f"no project with id {foreign.pk}"}]
    assert DatasetSnapshot.objects.count() == 0


def test_large_exports_answer_queued_and_finish_in_the_worker(
    judged, ml_user, client_for, django_capture_on_commit_callbacks
):
    client = client_for(ml_user)
    with mock.patch.object(snapshots, "INLINE_MAX_JUDGEMENTS", 1), django_capture_on_commit_callbacks(execute=True):
        created = client.post("/api/v1/exports/", {"projects": [judged.pk]}, format="json")

    assert (created.status_code, created.json()["status"]) == (202, "queued")
    assert client.get(f"/api/v1/exports/{created.json()['id']}/").json()["status"] == "done"


def test_download_before_done_is_a_conflict(judged, ml_user, client_for):
    with mock.patch.object(snapshots, "INLINE_MAX_JUDGEMENTS", 0):
        created = client_for(ml_user).post("/api/v1/exports/", {"projects": [judged.pk]}, format="json")

    response = client_for(ml_user).get(f"/api/v1/exports/{created.json()['id']}/download/")

    assert response.status_code == 409
    assert response.json()["code"] == "not_ready"


@pytest.mark.parametrize("name", ["../../settings.py", "README.md/..", "/etc/passwd", "train.parquet"])
def test_only_the_snapshots_own_files_can_be_downloaded(judged, ml_user, client_for, name):
    snapshot = export(ml_user, projects=(judged.pk,))

    response = client_for(ml_user).get(f"/api/v1/exports/{snapshot.pk}/download/", {"file": name})

    assert response.status_code == 404


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"projects": "1"}',
        '{"projects": [1], "format": "xlsx"}',
        '{"projects": [1], "test_fraction": 2}',
        '{"projects": [1], "min_item_agreement": "high"}',
        '{"projects": [1], "seed": -1}',
        '{"projects": [1], "license": "' + "x" * 500 + '"}',
        '{"projects": [99999999999999999999]}',
    ],
)
def test_malformed_bodies_never_500(judged, ml_user, client_for, payload):
    response = client_for(ml_user).post("/api/v1/exports/", data=payload, content_type="application/json")

    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"detail", "code", "errors"}


def test_the_list_costs_the_same_few_queries_for_many_exports(
    judged, ml_user, client_for, django_assert_max_num_queries
):
    for _ in range(5):
        export(ml_user, projects=(judged.pk,))
    client = client_for(ml_user)
    client.get("/api/v1/exports/")

    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/exports/")

    assert len(response.json()) == 5
