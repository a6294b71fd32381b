"""Admin pages for quality control: dashboard, adjudication, rater reinstatement, batch control, members."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from common.exceptions import ApplicationError
from labeling.charts import bar_chart
from labeling.markdown import render_markdown
from labeling.models import Batch, Item, ProjectStats
from labeling.roles import ADMIN, ML, RATER, has_role
from labeling.selectors import project_get_for_user
from labeling.services.projects import batch_update, membership_set
from labeling.services.quality import adjudication_record, project_stats_refresh, rater_reinstate


def _require(request: HttpRequest, *roles: str) -> None:
    if not has_role(request.user, *roles):
        raise PermissionDenied


@login_required
def dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    """Reads the stored ProjectStats row: a constant handful of queries whatever the project's size."""
    _require(request, ADMIN, ML)
    project = project_get_for_user(user=request.user, project_id=project_id)
    stats = ProjectStats.objects.filter(project=project).first()
    charts = {}
    if stats:
        data = stats.data
        charts = {
            "throughput": bar_chart(data["throughput_per_day"], title="Judgements per day"),
            "recent": bar_chart(
                [(k[11:16], v) for k, v in data["throughput_per_hour"]], title="Judgements per hour (48 h)"
            ),
            "strength": bar_chart(
                [(str(k) if k else "tie", v) for k, v in data["strength_distribution"]], title="Preference strength"
            ),
        }
    return render(request, "labeling/dashboard.html", {"project": project, "stats": stats, "charts": charts})


@login_required
@require_POST
def dashboard_refresh(request: HttpRequest, project_id: int) -> HttpResponse:
    _require(request, ADMIN, ML)
    project = project_get_for_user(user=request.user, project_id=project_id)
    project_stats_refresh(project=project)
    return redirect("labeling:dashboard", project_id=project.pk)


@login_required
@require_POST
def rater_reinstate_view(request: HttpRequest, project_id: int, rater_id: int) -> HttpResponse:
    _require(request, ADMIN)
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        rater_reinstate(project=project, rater_id=rater_id, by=request.user)
    except ApplicationError as exc:
        raise Http404 from exc
    project_stats_refresh(project=project)
    messages.success(request, "Rater reinstated; their gold score starts afresh.")
    return redirect("labeling:dashboard", project_id=project.pk)


@login_required
def adjudication_list(request: HttpRequest, project_id: int) -> HttpResponse:
    _require(request, ADMIN)
    project = project_get_for_user(user=request.user, project_id=project_id)
    stats = ProjectStats.objects.filter(project=project).first()
    ids = (stats.data["disputed_items"] + stats.data["gold_failure_items"]) if stats else []
    items = Item.objects.filter(pk__in=ids, batch__project=project).select_related("batch").order_by("id")
    failures = set(stats.data["gold_failure_items"]) if stats else set()
    return render(
        request,
        "labeling/adjudication_list.html",
        {"project": project, "items": items, "failures": failures, "stats": stats},
    )


@login_required
@require_http_methods(["GET", "POST"])
def adjudication_detail(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
    _require(request, ADMIN)
    project = project_get_for_user(user=request.user, project_id=project_id)
    item = get_object_or_404(Item.objects.select_related("batch"), pk=item_id, batch__project=project)
    responses = list(item.responses.order_by("position"))
    error = None
    if request.method == "POST":
        order = [rid for rid in request.POST.get("ranking", "").split(">") if rid.strip()]
        ranking = [[rid.strip() for rid in tier.split("=") if rid.strip()] for tier in order]
        strength = request.POST.get("strength") or None
        try:
            adjudication_record(
                item=item,
                adjudicator=request.user,
                ranking=ranking,
                note=request.POST.get("note", ""),
                strength=int(strength) if strength and strength.isdigit() else None,
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, f"Final label recorded for {item.external_id}.")
            return redirect("labeling:adjudication-list", project_id=project.pk)
    judgements = list(item.judgements.select_related("rater").order_by("created_at"))
    return render(
        request,
        "labeling/adjudication_detail.html",
        {
            "project": project,
            "item": item,
            "prompt_html": render_markdown(item.prompt) if isinstance(item.prompt, str) else None,
            "responses": [(r, render_markdown(r.text)) for r in responses],
            "judgements": judgements,
            "adjudication": getattr(item, "adjudication", None),
            "error": error,
            "status": 400 if error else 200,
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def batch_control(request: HttpRequest, project_id: int, batch_id: int) -> HttpResponse:
    _require(request, ADMIN)
    project = project_get_for_user(user=request.user, project_id=project_id)
    batch = get_object_or_404(Batch, pk=batch_id, project=project)
    status = request.POST.get("status") or None
    priority = request.POST.get("priority")
    try:
        batch_update(batch=batch, status=status, priority=int(priority) if priority not in (None, "") else None)
    except (ApplicationError, ValueError):
        messages.error(request, "Invalid batch change.")
    else:
        messages.success(
            request, f"Batch “{batch.name}” is {batch.get_status_display().lower()}, priority {batch.priority}."
        )
    return redirect("labeling:project-detail", project_id=project.pk)


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, project_id: int) -> HttpResponse:
    _require(request, ADMIN)
    project = project_get_for_user(user=request.user, project_id=project_id)
    User = get_user_model()
    if request.method == "POST":
        user = User.objects.filter(username=request.POST.get("username", "").strip()).first()
        if user is None:
            messages.error(request, "No user with that name.")
        else:
            membership_set(project=project, user=user, member=request.POST.get("action") != "remove")
            messages.success(request, f"Membership of {user.username} updated.")
        return redirect("labeling:members", project_id=project.pk)
    current = list(project.memberships.select_related("user").order_by("user__username"))
    raters = User.objects.filter(groups__name=RATER).exclude(memberships__project=project).order_by("username")[:200]
    return render(request, "labeling/members.html", {"project": project, "memberships": current, "candidates": raters})
