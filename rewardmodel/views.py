"""Export pages for ML staff: define and run an export, list them, see one and download its files."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from common.exceptions import ApplicationError
from labeling.roles import ML, has_role
from labeling.selectors import project_list_for_user
from rewardmodel.forms import ExportForm
from rewardmodel.models import DatasetSnapshot
from rewardmodel.selectors import snapshot_get_for_user, snapshot_list_for_user
from rewardmodel.services.snapshots import snapshot_create

ACTIVE = (DatasetSnapshot.Status.QUEUED, DatasetSnapshot.Status.RUNNING)


def _require_ml(request: HttpRequest) -> None:
    if not has_role(request.user, ML):
        raise PermissionDenied


@login_required
@require_http_methods(["GET", "POST"])
def export_list(request: HttpRequest) -> HttpResponse:
    _require_ml(request)
    form = ExportForm(request.POST or None, projects=project_list_for_user(user=request.user))
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            snapshot = snapshot_create(
                definition=form.definition(), created_by=request.user, name=form.cleaned_data["name"]
            )
        except ApplicationError as exc:
            error = exc
        else:
            return redirect("rewardmodel:export-detail", snapshot.pk)
    snapshots = list(snapshot_list_for_user(user=request.user).select_related("created_by")[:100])
    return render(
        request,
        "rewardmodel/export_list.html",
        {
            "form": form,
            "error": error,
            "snapshots": snapshots,
            "refresh": any(s.status in ACTIVE for s in snapshots),
        },
        status=error.status_code if error else 200,
    )


@login_required
def export_detail(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    _require_ml(request)
    snapshot = snapshot_get_for_user(user=request.user, snapshot_id=snapshot_id)
    card = ""
    if snapshot.status == DatasetSnapshot.Status.DONE:
        card = (snapshot.directory / "README.md").read_text(encoding="utf-8")
    return render(
        request,
        "rewardmodel/export_detail.html",
        {"snapshot": snapshot, "card": card, "refresh": snapshot.status in ACTIVE},
    )
