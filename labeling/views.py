"""Server-rendered pages. Each view checks the role, loads through a scoped selector, calls a service."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from common.exceptions import ApplicationError
from labeling.forms import BatchUploadForm, UserCreateForm
from labeling.roles import ADMIN, ML, RATER, has_role
from labeling.selectors import (
    batch_list_for_project,
    batch_progress_many,
    project_get_for_user,
    project_list_for_user,
    rater_progress,
    rater_progress_by_project,
)
from labeling.services.batch_import import batch_import
from labeling.services.projects import user_create_or_update


def _require_role(request: HttpRequest, *roles: str) -> None:
    if not has_role(request.user, *roles):
        raise PermissionDenied


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = list(project_list_for_user(user=request.user))
    progress = rater_progress_by_project(user=request.user) if has_role(request.user, RATER) else {}
    rows = [(project, progress.get(project.pk, {"today": 0, "total": 0})) for project in projects]
    return render(request, "labeling/home.html", {"rows": rows})


@login_required
def label(request: HttpRequest, project_id: int) -> HttpResponse:
    """The rater's page. Tasks come from the rater API; the page only carries the project's settings."""
    _require_role(request, RATER)
    project = project_get_for_user(user=request.user, project_id=project_id)

    def api_url(name: str) -> str:
        return reverse(f"labeling-api:{name}", args=[0]).replace("/0/", "/__id__/")

    config = {
        "project": {
            "id": project.pk,
            "name": project.name,
            "flags": project.flags or [],
            "strength_labels": project.strength_labels or [],
            "rationale_required": project.rationale_required,
            "task_kind": project.task_kind,
            "stop_at_first_error": project.stop_at_first_error,
        },
        "urls": {
            "next": reverse("labeling-api:next-task", args=[project.pk]),
            "submit": api_url("assignment-submit"),
            "skip": api_url("assignment-skip"),
        },
        "csrfToken": get_token(request),
    }
    return render(
        request,
        "labeling/label.html",
        {"project": project, "config": config, "progress": rater_progress(user=request.user, project=project)},
    )


@login_required
def guidelines(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    return render(request, "labeling/guidelines.html", {"project": project})


@login_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    _require_role(request, ADMIN, ML)
    project = project_get_for_user(user=request.user, project_id=project_id)
    batches = list(batch_list_for_project(project=project).select_related("project"))
    progress = batch_progress_many(batches=batches)
    rows = [(batch, progress.get(batch.pk)) for batch in batches]
    return render(request, "labeling/project_detail.html", {"project": project, "rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def batch_upload(request: HttpRequest, project_id: int) -> HttpResponse:
    _require_role(request, ADMIN)
    project = project_get_for_user(user=request.user, project_id=project_id)
    form = BatchUploadForm(request.POST or None, request.FILES or None)
    result = None
    error = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = batch_import(
                project=project,
                stream=upload.file,
                name=form.cleaned_data["name"] or upload.name,
                created_by=request.user,
                priority=form.cleaned_data["priority"],
                status=form.cleaned_data["status"],
                source_filename=upload.name,
            )
        except ApplicationError as exc:
            error = exc
        else:
            result = batch
    status = 200
    if error is not None:
        status = error.status_code
    return render(
        request,
        "labeling/batch_upload.html",
        {"project": project, "form": form, "result": result, "error": error},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    _require_role(request, ADMIN)
    projects = project_list_for_user(user=request.user)
    form = UserCreateForm(request.POST or None, projects=projects)
    token = None
    created_user = None
    if request.method == "POST" and form.is_valid():
        try:
            created_user, token, created = user_create_or_update(
                username=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
                password=form.cleaned_data["password"] or None,
                project_ids=[p.pk for p in form.cleaned_data["projects"]],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            verb = "Created" if created else "Updated"
            messages.success(request, f"{verb} {created_user.username} ({form.cleaned_data['role']}).")
    return render(request, "labeling/user_create.html", {"form": form, "token": token, "created_user": created_user})


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def root(request: HttpRequest) -> HttpResponse:
    return redirect("labeling:home")
