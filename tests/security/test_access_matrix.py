"""Every URL × every role. The test walks the URL configuration: a new endpoint without an entry here
fails `test_every_url_has_an_entry`. Objects of projects a user does not belong to answer 404, and any
refused request changes nothing."""

import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from labeling.models import Adjudication, Batch, Judgement, Project, ProjectMembership, RaterQuality
from labeling.services.assignment import assignment_claim_next
from labeling.services.quality import project_stats_refresh
from rewardmodel.services.snapshots import ExportDefinition, snapshot_create
from tests.labeling.factories import ProjectFactory, UserFactory, comparison_line, import_lines, jsonl, rater_in
from tests.rewardmodel.factories import FinishedTrainingRunFactory, scored

ROLES = ("anonymous", "outsider", "rater", "admin", "ml", "other_admin", "other_ml")


@dataclass
class Case:
    method: str
    path: str  # formatted with the world's ids
    expect: dict[str, int]
    data: Any = None
    kind: str = "json"  # json | form | multipart
    extra: dict = field(default_factory=dict)


def api(anonymous=403, outsider=403, rater=403, admin=403, ml=403, other_admin=404, other_ml=404) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {
        "anonymous": anonymous,
        "outsider": outsider,
        "rater": rater,
        "admin": admin,
        "ml": ml,
        "other_admin": other_admin,
        "other_ml": other_ml,
    }


def page(anonymous=302, outsider=403, rater=403, admin=403, ml=403, other_admin=404, other_ml=404) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {
        "anonymous": anonymous,
        "outsider": outsider,
        "rater": rater,
        "admin": admin,
        "ml": ml,
        "other_admin": other_admin,
        "other_ml": other_ml,
    }


EVERYONE_200 = dict.fromkeys(ROLES, 200)
P = "/projects/{project}"
A = "/api/v1/projects/{project}"

MATRIX: dict[str, list[Case]] = {
    # public
    "login": [Case("get", "/accounts/login/", EVERYONE_200)],
    "logout": [Case("post", "/accounts/logout/", dict.fromkeys(ROLES, 302), kind="form")],
    "schema": [Case("get", "/api/schema/", EVERYONE_200)],
    "api-docs": [Case("get", "/api/docs/", EVERYONE_200)],
    "labeling:healthz": [Case("get", "/healthz", EVERYONE_200)],
    # API
    "labeling-api:project-list": [
        Case(
            "get", "/api/v1/projects/", api(outsider=200, rater=200, admin=200, ml=200, other_admin=200, other_ml=200)
        ),
        Case("post", "/api/v1/projects/", api(admin=201, other_admin=201, other_ml=403), {"name": "new"}),
    ],
    "labeling-api:project-detail": [Case("get", A + "/", api(outsider=404, rater=200, admin=200, ml=200))],
    "labeling-api:batch-list": [
        Case("get", A + "/batches/", api(admin=200, ml=200)),
        Case("post", A + "/batches/", api(admin=201, other_ml=403), {"name": "upload"}, kind="multipart"),
    ],
    "labeling-api:batch-detail": [
        Case("get", A + "/batches/{batch}/", api(admin=200, ml=200)),
        Case("patch", A + "/batches/{batch}/", api(admin=200, other_ml=403), {"status": "paused"}),
    ],
    "labeling-api:next-task": [
        Case("post", A + "/next/", api(outsider=404, rater=200, other_admin=403, other_ml=403), {}),
    ],
    "labeling-api:assignment-submit": [
        Case(
            "post",
            "/api/v1/assignments/{assignment}/submit/",
            api(outsider=404, rater=201, other_admin=403, other_ml=403),
            {"ranking": [["a"], ["b"]], "strength": 1},
        ),
    ],
    "labeling-api:assignment-skip": [
        Case(
            "post",
            "/api/v1/assignments/{assignment}/skip/",
            api(outsider=404, rater=200, other_admin=403, other_ml=403),
            {"reason": "x"},
        ),
    ],
    "labeling-api:project-stats": [Case("get", A + "/stats/", api(admin=200, ml=200))],
    "labeling-api:rater-reinstate": [
        Case("post", A + "/raters/{suspended}/reinstate/", api(admin=200, other_ml=403), {}),
    ],
    "labeling-api:item-adjudication": [
        Case("post", A + "/items/{item}/adjudication/", api(admin=200, other_ml=403), {"ranking": [["b"], ["a"]]}),
    ],
    "assist-api:batch-assist": [Case("post", A + "/batches/{batch}/assist/", api(admin=202, other_ml=403), {})],
    "assist-api:assistance-report": [Case("get", A + "/assistance-report/", api(admin=200, ml=200))],
    # pages
    "labeling:home": [
        Case("get", "/", page(outsider=200, rater=200, admin=200, ml=200, other_admin=200, other_ml=200))
    ],
    "labeling:project-detail": [Case("get", P + "/", page(admin=200, ml=200))],
    "labeling:project-guidelines": [Case("get", P + "/guidelines/", page(outsider=404, rater=200, admin=200, ml=200))],
    "labeling:label": [Case("get", P + "/label/", page(outsider=404, rater=200, other_admin=403, other_ml=403))],
    "labeling:batch-upload": [Case("get", P + "/upload/", page(admin=200, other_ml=403))],
    "labeling:user-create": [Case("get", "/users/new/", page(admin=200, other_admin=200, other_ml=403))],
    "labeling:dashboard": [Case("get", P + "/dashboard/", page(admin=200, ml=200))],
    "labeling:dashboard-refresh": [Case("post", P + "/dashboard/refresh/", page(admin=302, ml=302), {}, kind="form")],
    "labeling:rater-reinstate": [
        Case("post", P + "/raters/{suspended}/reinstate/", page(admin=302, other_ml=403), {}, kind="form"),
    ],
    "labeling:adjudication-list": [Case("get", P + "/adjudication/", page(admin=200, other_ml=403))],
    "labeling:adjudication-detail": [
        Case("get", P + "/adjudication/{item}/", page(admin=200, other_ml=403)),
        Case("post", P + "/adjudication/{item}/", page(admin=302, other_ml=403), {"ranking": "b>a"}, kind="form"),
    ],
    "labeling:batch-control": [
        Case("post", P + "/batches/{batch}/control/", page(admin=302, other_ml=403), {"status": "paused"}, kind="form"),
    ],
    "labeling:members": [
        Case("get", P + "/members/", page(admin=200, other_ml=403)),
        Case(
            "post", P + "/members/", page(admin=302, other_ml=403), {"username": "otto", "action": "add"}, kind="form"
        ),
    ],
    "assist:report": [Case("get", P + "/assistance/", page(admin=200, ml=200))],
    "assist:batch-generate": [
        Case("post", P + "/batches/{batch}/assist/", page(admin=302, other_ml=403), {}, kind="form")
    ],
    # exports: ML staff only; a snapshot is its creator's (other ML staff: 404)
    "rewardmodel-api:export-list": [
        Case("get", "/api/v1/exports/", api(ml=200, other_admin=403, other_ml=200)),
        Case("post", "/api/v1/exports/", api(ml=400, other_admin=403, other_ml=400), {}),  # 202: tests/rewardmodel
    ],
    "rewardmodel-api:export-detail": [Case("get", "/api/v1/exports/{snapshot}/", api(ml=200, other_admin=403))],
    "rewardmodel-api:export-download": [
        Case("get", "/api/v1/exports/{snapshot}/download/", api(ml=200, other_admin=403))
    ],
    "rewardmodel:exports": [Case("get", "/exports/", page(ml=200, other_admin=403, other_ml=200))],
    "rewardmodel:export-detail": [Case("get", "/exports/{snapshot}/", page(ml=200, other_admin=403))],
    # reward models: ML staff train and score; a run is its creator's (other ML staff: 404). The scores
    # and disagreements of a scored batch: admins and ML staff of the batch's project.
    "rewardmodel-api:reward-model-list": [
        Case("get", "/api/v1/reward-models/", api(ml=200, other_admin=403, other_ml=200)),
        Case(
            "post", "/api/v1/reward-models/", api(ml=400, other_admin=403, other_ml=400), {}
        ),  # 202: tests/rewardmodel
    ],
    "rewardmodel-api:reward-model-detail": [Case("get", "/api/v1/reward-models/{run}/", api(ml=200, other_admin=403))],
    "rewardmodel-api:reward-model-score": [
        Case("post", "/api/v1/reward-models/{run}/score/", api(ml=400, other_admin=403), {}),  # 202: tests/rewardmodel
    ],
    "rewardmodel-api:reward-model-disagreements": [
        Case("get", "/api/v1/reward-models/{run}/disagreements/?batch={batch}", api(admin=200, ml=200))
    ],
    "rewardmodel-api:reward-model-scores": [
        Case("get", "/api/v1/reward-models/{run}/scores/?batch={batch}&format=csv", api(admin=200, ml=200))
    ],
    "rewardmodel:reward-models": [Case("get", "/reward-models/", page(ml=200, other_admin=403, other_ml=200))],
    "rewardmodel:reward-model-detail": [Case("get", "/reward-models/{run}/", page(ml=200, other_admin=403))],
    "rewardmodel:reward-model-score": [
        Case("post", "/reward-models/{run}/score/", page(ml=302, other_admin=403), {}, kind="form")
    ],
    "rewardmodel:reward-model-disagreements": [
        Case("get", "/reward-models/{run}/disagreements/?batch={batch}", page(admin=200, ml=200))
    ],
}


def url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace=None):  # type: ignore[no-untyped-def]
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace != "admin":
                names.add(f"{namespace}:{pattern.name}" if namespace else str(pattern.name))

    walk(get_resolver().url_patterns)
    return names


def test_every_url_has_an_entry():
    assert url_names() - set(MATRIX) == set(), "add the new endpoints to MATRIX with the expected status per role"
    assert set(MATRIX) - url_names() == set()


def test_django_admin_is_staff_only(client, db):
    rater = UserFactory(username="r-admin-site", role="rater")
    client.force_login(rater)

    assert client.get("/admin/").status_code == 302


@pytest.fixture
def world(db, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    admin = UserFactory(username="adam", role="admin")
    ml = UserFactory(username="mia", role="ml")
    project = ProjectFactory(name="P", overlap=2, members=[admin, ml])
    rater = rater_in(project, "rita")
    batch = import_lines(project, [comparison_line(1), comparison_line(2)])
    item = batch.items.order_by("id").first()
    assignment = assignment_claim_next(project=project, rater=rater)
    suspended = rater_in(project, "sus")
    RaterQuality.objects.create(project=project, rater=suspended, gold_judged=5, gold_correct=0, suspended=True)
    other = ProjectFactory(name="Q")
    users = {
        "anonymous": None,
        "outsider": rater_in(other, "otto"),
        "rater": rater,
        "admin": admin,
        "ml": ml,
        "other_admin": UserFactory(username="oscar", role="admin"),
        "other_ml": UserFactory(username="olga", role="ml"),
    }
    ProjectMembership.objects.create(project=other, user=users["other_admin"])
    ProjectMembership.objects.create(project=other, user=users["other_ml"])
    project_stats_refresh(project=project)
    snapshot = snapshot_create(definition=ExportDefinition(projects=(project.pk,)), created_by=ml, run_inline=True)
    run = FinishedTrainingRunFactory(snapshot=snapshot, created_by=ml)
    scored(run, batch, {"a": 1.0, "b": 2.0})
    ids = {
        "project": project.pk,
        "batch": batch.pk,
        "item": item.pk,
        "assignment": assignment.pk,
        "suspended": suspended.pk,
        "snapshot": snapshot.pk,
        "run": run.pk,
    }
    return users, ids


def fingerprint() -> tuple:
    return (
        Project.objects.count(),
        list(Batch.objects.order_by("id").values_list("status", "priority", "item_count")),
        Judgement.objects.count(),
        Adjudication.objects.count(),
        ProjectMembership.objects.count(),
        list(RaterQuality.objects.values_list("suspended", flat=True)),
        list(Judgement.objects.values_list("assignment__status", flat=True)),
    )


CASES = [(name, index, role) for name, cases in sorted(MATRIX.items()) for index in range(len(cases)) for role in ROLES]


@pytest.mark.parametrize(("name", "index", "role"), CASES, ids=[f"{n}#{i}-{r}" for n, i, r in CASES])
def test_access(world, name, index, role):
    users, ids = world
    case = MATRIX[name][index]
    client = Client()
    if users[role] is not None:
        client.force_login(users[role])
    path = case.path.format(**ids)
    before = fingerprint()

    if case.kind == "multipart":
        upload = io.BytesIO(jsonl([comparison_line(9)]))
        upload.name = "b.jsonl"
        response = getattr(client, case.method)(path, {"file": upload, **case.data})
    elif case.kind == "form":
        response = getattr(client, case.method)(path, case.data or {})
    elif case.method == "get":
        response = client.get(path)
    else:
        response = getattr(client, case.method)(path, case.data, content_type="application/json")

    expected = case.expect[role]
    assert response.status_code == expected, (
        f"{role} {case.method.upper()} {path}: {response.status_code} != {expected}"
    )
    if expected >= 400 and case.method != "get":
        assert fingerprint() == before, "a refused request changed data"
