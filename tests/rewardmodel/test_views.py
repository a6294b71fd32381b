import pytest
from django.test import Client

from rewardmodel.models import DatasetSnapshot
from tests.labeling.factories import UserFactory
from tests.rewardmodel.factories import answer, export, judge

pytestmark = pytest.mark.django_db


def browser(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def judged(export_project, two_items):  # type: ignore[no-untyped-def]
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["b"], ["a"]], 1)})
    return export_project


def test_ml_staff_see_the_exports_link_and_page(judged, ml_user):
    client = browser(ml_user)

    home = client.get("/").content.decode()
    page = client.get("/exports/").content.decode()

    assert 'href="/exports/"' in home
    assert "New export" in page
    assert judged.name in page  # offered in the form


def test_define_and_run_an_export_in_the_browser(judged, ml_user):
    client = browser(ml_user)
    form = {
        "name": "<b>first</b>",
        "format": "parquet",
        "projects": [judged.pk],
        "exclude_flags": "harmful, fails instruction",
        "aggregation": "majority",
        "ties": "keep",
        "margin": "strength",
        "test_fraction": "0",
        "seed": "4",
        "license": "mit",
    }

    response = client.post("/exports/", form, follow=True)

    snapshot = DatasetSnapshot.objects.get()
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/exports/{snapshot.pk}/"
    assert (snapshot.status, snapshot.export_format) == ("done", "parquet")
    assert snapshot.definition["exclude_flags"] == ["fails instruction", "harmful"]
    assert snapshot.definition["aggregation"] == "majority"
    assert snapshot.content_hash in page
    assert f"/api/v1/exports/{snapshot.pk}/download/?file=train.parquet" in page
    assert "&lt;b&gt;first&lt;/b&gt;" in page  # names render inert
    assert "license: mit" in page  # the dataset card


def test_the_list_shows_your_exports(judged, ml_user):
    snapshot = export(ml_user, projects=(judged.pk,), name="nightly")

    page = browser(ml_user).get("/exports/").content.decode()

    assert "nightly" in page
    assert snapshot.content_hash[:12] in page


def test_an_invalid_definition_shows_the_error(judged, ml_user):
    response = browser(ml_user).post(
        "/exports/",
        {
            "format": "trl-jsonl",
            "aggregation": "every",
            "ties": "drop",
            "margin": "strength",
            "test_fraction": "0.1",
            "seed": "0",
            "license": "unknown",
        },
    )

    assert response.status_code == 400
    assert "choose at least one project or batch" in response.content.decode()
    assert DatasetSnapshot.objects.count() == 0


def test_raters_and_admins_cannot_open_the_pages(judged, ml_user, rater, admin_user):
    snapshot = export(ml_user, projects=(judged.pk,))

    for user in (rater, admin_user):
        client = browser(user)
        assert client.get("/exports/").status_code == 403
        assert client.get(f"/exports/{snapshot.pk}/").status_code == 403


def test_another_ml_users_export_page_is_not_found(judged, ml_user):
    snapshot = export(ml_user, projects=(judged.pk,))
    other = UserFactory(username="olga-ml", role="ml")

    assert browser(other).get(f"/exports/{snapshot.pk}/").status_code == 404


def test_the_form_needs_a_csrf_token(judged, ml_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ml_user)

    response = client.post("/exports/", {"projects": [judged.pk], "format": "trl-jsonl"})

    assert response.status_code == 403
    assert DatasetSnapshot.objects.count() == 0
