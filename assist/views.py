from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from assist.selectors import assistance_report, report_rows
from assist.services.generation import assist_schedule_batch
from labeling.roles import ADMIN, ML, has_role
from labeling.selectors import batch_get_for_user, project_get_for_user


@login_required
def report(request: HttpRequest, project_id: int) -> HttpResponse:
    if not has_role(request.user, ADMIN, ML):
        raise PermissionDenied
    project = project_get_for_user(user=request.user, project_id=project_id)
    report = assistance_report(project=project)
    return render(request, "assist/report.html", {"project": project, "report": report, "rows": report_rows(report)})


@login_required
@require_POST
def batch_generate(request: HttpRequest, project_id: int, batch_id: int) -> HttpResponse:
    if not has_role(request.user, ADMIN):
        raise PermissionDenied
    batch = batch_get_for_user(user=request.user, project_id=project_id, batch_id=batch_id)
    assist_schedule_batch(batch=batch)
    messages.success(request, f"Assistance queued for “{batch.name}”: missing and failed artifacts will be generated.")
    return redirect("labeling:project-detail", project_id=project_id)
