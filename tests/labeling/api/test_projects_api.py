import pytest

from labeling.models import Project, ProjectMembership
from tests.labeling.factories import ProjectFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/"


def test_admin_creates_project_and_becomes_member(client_for, admin_user):
    body = {
        "name": "Helpfulness",
        "task_kind": "comparison",
        "overlap": 3,
        "flags": ["harmful"],
        "rationale_required": True,
    }

    response = client_for(admin_user).post(URL, body, format="json")

    assert response.status_code == 201
    project = Project.objects.get(pk=response.json()["id"])
    assert (project.overlap, project.flags, project.rationale_required) == (3, ["harmful"], True)
    assert ProjectMembership.objects.filter(project=project, user=admin_user).exists()


@pytest.mark.parametrize("user_fixture", ["rater", "ml_user"])
def test_non_admins_cannot_create_projects(client_for, request, user_fixture):
    user = request.getfixturevalue(user_fixture)

    response = client_for(user).post(URL, {"name": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Project.objects.count() == 0


def test_anonymous_gets_401_or_403(client_for, db):
    response = client_for(None).post(URL, {"name": "x"}, format="json")

    assert response.status_code in (401, 403)


def test_bad_project_input_names_each_field(client_for, admin_user):
    response = client_for(admin_user).post(URL, {"name": "", "overlap": 0, "task_kind": "essay"}, format="json")

    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"name", "overlap", "task_kind"}


def test_project_list_shows_only_member_projects(client_for, project, outsider):
    ProjectFactory(name="Other", members=[outsider])

    names_insider = [p["name"] for p in client_for(project.created_by).get(URL).json()]
    names_outsider = [p["name"] for p in client_for(outsider).get(URL).json()]

    assert names_insider == [project.name]
    assert names_outsider == ["Other"]


def test_project_detail_of_other_project_is_404(client_for, project, outsider):
    response = client_for(outsider).get(f"{URL}{project.pk}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found", "errors": []}
