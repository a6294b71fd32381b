"""Export and reward-model pages: ML staff define exports, train reward models, watch a run and score batches;
admins and ML staff of a project see where a reward model disagrees with the raters of its scored batches."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString
from django.views.decorators.http import require_http_methods

from common.exceptions import ApplicationError
from labeling.charts import bar_chart
from labeling.roles import ADMIN, ML, has_role
from labeling.selectors import project_list_for_user
from rewardmodel.forms import BatchScoringForm, ExportForm, TrainingRunForm
from rewardmodel.models import BatchScoring, DatasetSnapshot, TrainingRun
from rewardmodel.selectors import (
    batch_scoring_get_for_user,
    batch_scoring_list_for_run,
    disagreement_list,
    snapshot_get_for_user,
    snapshot_list_for_user,
    training_run_get_for_user,
    training_run_list_for_user,
)
from rewardmodel.services.scoring import batch_scoring_request
from rewardmodel.services.snapshots import snapshot_create
from rewardmodel.services.training import training_run_create

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


# Reward models ------------------------------------------------------------------------------------------

RUN_ACTIVE = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)
CHART_POINTS = 60


@login_required
@require_http_methods(["GET", "POST"])
def reward_model_list(request: HttpRequest) -> HttpResponse:
    _require_ml(request)
    form = TrainingRunForm(request.POST or None, snapshots=snapshot_list_for_user(user=request.user))
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            run = training_run_create(
                snapshot_id=form.cleaned_data["snapshot"].pk,
                config=form.config(),
                created_by=request.user,
                name=form.cleaned_data["name"],
            )
        except ApplicationError as exc:
            error = exc
        else:
            return redirect("rewardmodel:reward-model-detail", run.pk)
    runs = list(training_run_list_for_user(user=request.user).select_related("snapshot")[:100])
    return render(
        request,
        "rewardmodel/reward_model_list.html",
        {"form": form, "error": error, "runs": runs, "refresh": any(r.status in RUN_ACTIVE for r in runs)},
        status=error.status_code if error else 200,
    )


@login_required
def reward_model_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    _require_ml(request)
    run = training_run_get_for_user(user=request.user, run_id=run_id)
    scorings = list(batch_scoring_list_for_run(run=run))
    return render(
        request,
        "rewardmodel/reward_model_detail.html",
        {
            "run": run,
            "charts": _run_charts(run),
            "calibration": (run.metrics or {}).get("calibration", []),
            "score_form": BatchScoringForm(projects=project_list_for_user(user=request.user)),
            "scorings": scorings,
            "refresh": run.status in RUN_ACTIVE or any(s.status in RUN_ACTIVE for s in scorings),
        },
    )


def _run_charts(run: TrainingRun) -> list[SafeString]:
    curve = run.loss_curve or []
    step = max(len(curve) // CHART_POINTS, 1)
    charts = [bar_chart([(f"step {s}", loss) for s, loss in curve[::step]], title="Training loss")]
    metrics = run.metrics or {}
    for name, buckets in sorted((metrics.get("accuracy_by") or {}).items()):
        charts.append(
            bar_chart(
                [(f"{label} ({b['pairs']} pairs)", round(b["accuracy"], 4)) for label, b in buckets.items()],
                title=f"Test accuracy by {name}",
            )
        )
    histogram = metrics.get("margin_histogram") or []
    if histogram:
        charts.append(
            bar_chart(
                [(f"{h['from']} to {h['to']}", h["count"]) for h in histogram],
                title="Reward margin r(chosen) - r(rejected), test pairs",
            )
        )
    calibration = metrics.get("calibration") or []
    if calibration:
        charts.append(
            bar_chart(
                [(f"predicted {c['predicted']:.2f}", round(c["observed"], 4)) for c in calibration],
                title="Calibration: observed preference per predicted bin",
            )
        )
    return charts


@login_required
@require_http_methods(["POST"])
def reward_model_score(request: HttpRequest, run_id: int) -> HttpResponse:
    _require_ml(request)
    run = training_run_get_for_user(user=request.user, run_id=run_id)
    form = BatchScoringForm(request.POST, projects=project_list_for_user(user=request.user))
    if not form.is_valid():
        messages.error(request, "Choose one of your comparison batches.")
        return redirect("rewardmodel:reward-model-detail", run.pk)
    try:
        batch_scoring_request(run=run, batch_id=form.cleaned_data["batch"].pk, requested_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Scoring queued; this page refreshes until it is done.")
    return redirect("rewardmodel:reward-model-detail", run.pk)


@login_required
def reward_model_disagreements(request: HttpRequest, run_id: int) -> HttpResponse:
    """Admins and ML staff of the scored batch's project (see `rewardmodel.selectors`)."""
    if not has_role(request.user, ADMIN, ML):
        raise PermissionDenied
    batch = request.GET.get("batch", "")
    scoring = batch_scoring_get_for_user(
        user=request.user, run_id=run_id, batch_id=int(batch) if batch.isdigit() else None
    )
    rows = disagreement_list(scoring=scoring) if scoring.status == BatchScoring.Status.DONE else []
    return render(
        request,
        "rewardmodel/disagreements.html",
        {
            "scoring": scoring,
            "rows": rows,
            "can_adjudicate": has_role(request.user, ADMIN),
            "refresh": scoring.status in RUN_ACTIVE,
        },
    )
