import io

import pytest
from django.test import Client

from labeling.models import Batch, Item
from tests.labeling.factories import comparison_line, import_lines, jsonl

pytestmark = pytest.mark.django_db


def browser(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def test_login_required(client):
    assert client.get("/").status_code == 302


def test_home_lists_member_projects(project, rater):
    page = browser(rater).get("/").content.decode()

    assert project.name in page


def test_upload_page_imports_and_shows_result(project, admin_user):
    upload = io.BytesIO(jsonl([comparison_line(i) for i in range(3)]))
    upload.name = "three.jsonl"

    response = browser(admin_user).post(
        f"/projects/{project.pk}/upload/", {"file": upload, "name": "", "priority": 0, "status": "live"}
    )

    assert response.status_code == 200
    assert "Imported <strong>3</strong> items" in response.content.decode()
    assert Batch.objects.get().name == "three.jsonl"


def test_upload_page_shows_errors_by_line(project, admin_user):
    upload = io.BytesIO(jsonl([comparison_line(1), comparison_line(2, responses="x")]))
    upload.name = "bad.jsonl"

    response = browser(admin_user).post(
        f"/projects/{project.pk}/upload/", {"file": upload, "priority": 0, "status": "live"}
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "<td>2</td><td><code>responses</code></td><td>must be a list</td>" in page
    assert Item.objects.count() == 0


def test_upload_page_forbidden_for_raters(project, rater):
    assert browser(rater).get(f"/projects/{project.pk}/upload/").status_code == 403


def test_project_page_shows_batches_and_progress(project, ml_user):
    import_lines(project, [comparison_line(i) for i in range(2)], name="round-1")

    page = browser(ml_user).get(f"/projects/{project.pk}/").content.decode()

    assert "round-1" in page


def test_admin_creates_user_in_browser_and_sees_token(project, admin_user):
    response = browser(admin_user).post(
        "/users/new/", {"username": "newrater", "role": "rater", "password": "long-enough-pw", "projects": [project.pk]}
    )

    assert response.status_code == 200
    assert "API token for <strong>newrater</strong>" in response.content.decode()
    assert project.members.filter(username="newrater").exists()


def test_django_admin_browses_items(project, admin_user):
    batch = import_lines(project, [comparison_line(1)])
    item = batch.items.get()
    client = browser(admin_user)

    for url in [
        "/admin/labeling/project/",
        f"/admin/labeling/project/{project.pk}/change/",
        "/admin/labeling/batch/",
        "/admin/labeling/item/",
        f"/admin/labeling/item/{item.pk}/change/",
        "/admin/labeling/response/",
    ]:
        assert client.get(url).status_code == 200, url


def test_api_schema_and_docs(admin_user):
    client = browser(admin_user)

    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/projects/{project_id}/batches/" in schema.content
    assert docs.status_code == 200


def test_admins_edit_prompt_templates_in_django_admin(admin_user):
    client = browser(admin_user)

    listing = client.get("/admin/assist/prompttemplate/")
    added = client.post(
        "/admin/assist/prompttemplate/add/",
        {"kind": "critique", "system": "Be strict.", "template": "Q: {prompt}\nA: {response}", "is_active": "on"},
    )

    from assist.models import PromptTemplate

    assert listing.status_code == 200
    assert added.status_code == 302
    assert PromptTemplate.objects.filter(kind="critique").order_by("-version").first().system == "Be strict."
