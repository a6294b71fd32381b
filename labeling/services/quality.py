"""Quality control: gold scoring and suspension, the project statistics snapshot, adjudication.

The statistics are computed by a Celery task (`labeling.refresh_project_stats`) that streams the
project's judgements once, item by item, and stores a ProjectStats row; dashboards read that row, so a
page view never scans judgements. A submit schedules a refresh at most once per STATS_DEBOUNCE seconds.
"""

import logging
import statistics
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from assist.models import AssistArtifact
from common.exceptions import ApplicationError
from labeling.metrics import AgreementAccumulator, gold_correct, per_rater_share, position_bias
from labeling.models import Adjudication, Batch, Item, Judgement, Project, ProjectStats, RaterQuality
from labeling.services.import_format import LineError, validate_ranking

logger = logging.getLogger(__name__)

STATS_DEBOUNCE = 30
DISPUTED_LIMIT = 500


def gold_record(*, project: Project, rater_id: int, kind: str, answer: dict[str, Any], gold: dict | None) -> None:
    """Score a judgement on a gold item and suspend the rater when they fall under the threshold.
    Runs inside the submit transaction; the RaterQuality row is locked for the update."""
    correct = gold_correct(kind, answer, gold)
    if correct is None:
        return
    quality, _ = RaterQuality.objects.select_for_update().get_or_create(project=project, rater_id=rater_id)
    quality.gold_judged += 1
    quality.gold_correct += int(correct)
    threshold = project.gold_min_accuracy
    if (
        threshold > 0
        and not quality.suspended
        and quality.gold_judged >= project.gold_min_judged
        and quality.gold_correct / quality.gold_judged < threshold
    ):
        quality.suspended = True
        quality.suspended_at = timezone.now()
        logger.info("rater suspended", extra={"project_id": project.pk, "rater_id": rater_id})
    quality.save()


@transaction.atomic
def rater_reinstate(*, project: Project, rater_id: int, by: AbstractBaseUser) -> RaterQuality:
    """Lift a suspension. The rater's gold score starts afresh, so the threshold applies again only
    after another `gold_min_judged` gold judgements."""
    quality = RaterQuality.objects.select_for_update().filter(project=project, rater_id=rater_id).first()
    if quality is None:
        raise ApplicationError("This rater has no gold record in the project.", code="not_found", status_code=404)
    quality.suspended = False
    quality.reinstated_at = timezone.now()
    quality.reinstated_by = by
    quality.gold_judged = quality.gold_correct = 0
    quality.save()
    return quality


@transaction.atomic
def adjudication_record(
    *, item: Item, adjudicator: AbstractBaseUser, ranking: Any, strength: int | None = None, note: str = ""
) -> Adjudication:
    """Record (or replace) an admin's final label for an item; exports prefer it to the raters'."""
    response_ids = set(item.responses.values_list("response_id", flat=True))
    try:
        ranking = validate_ranking(ranking, response_ids)
    except LineError as exc:
        raise ApplicationError(
            exc.message, code="invalid", errors=[{"field": exc.field, "message": exc.message}]
        ) from None
    if strength is not None and not 0 <= strength <= 9:
        raise ApplicationError("Strength must be between 0 and 9.", errors=[{"field": "strength", "message": "range"}])
    adjudication, _ = Adjudication.objects.update_or_create(
        item=item, defaults={"adjudicator": adjudicator, "ranking": ranking, "strength": strength, "note": note[:5000]}
    )
    project_stats_schedule(project_id=item.batch.project_id)
    return adjudication


def project_stats_schedule(*, project_id: int) -> None:
    """Queue a statistics refresh after commit, at most once per STATS_DEBOUNCE seconds per project."""
    from labeling.tasks import refresh_project_stats

    if cache.add(f"oversight:stats-scheduled:{project_id}", 1, timeout=STATS_DEBOUNCE):
        transaction.on_commit(lambda: refresh_project_stats.apply_async((project_id,), countdown=STATS_DEBOUNCE // 3))


def project_stats_refresh(*, project: Project) -> ProjectStats:
    """Recompute every quality figure of a project in one streaming pass and store it."""
    now = timezone.now()
    batches = {b.pk: b for b in Batch.objects.filter(project=project)}
    accumulators: dict[Any, AgreementAccumulator] = defaultdict(lambda: AgreementAccumulator(project.strength_max))
    raters: dict[int, dict[str, Any]] = defaultdict(lambda: {"times": [], "count": 0, "flags": 0, "judgements": []})
    per_day: Counter[str] = Counter()
    agreement_by_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_hour: Counter[str] = Counter()
    strengths: Counter[int] = Counter()
    position_first = position_total = 0
    gold_failures: list[int] = []
    rows = (
        Judgement.objects.filter(project=project)
        .order_by("item_id", "id")
        .values(
            "item_id",
            "rater_id",
            "ranking",
            "strength",
            "display_order",
            "time_spent_ms",
            "flags",
            "created_at",
            "step_labels",
            "quality",
            "no_flaws",
            "item__gold",
            "item__reference",
            "item__batch_id",
        )
        .iterator(chunk_size=5000)
    )
    group: list[dict[str, Any]] = []
    recent_start = now - timedelta(hours=48)
    for row in _with_sentinel(rows):
        if group and (row is None or row["item_id"] != group[0]["item_id"]):
            first = group[0]
            agree, pairs = accumulators["project"].add_item(first["item_id"], group, first["item__reference"])
            accumulators[first["item__batch_id"]].add_item(first["item_id"], group, first["item__reference"])
            if pairs:
                day = max(j["created_at"] for j in group).date().isoformat()
                agreement_by_day[day][0] += agree
                agreement_by_day[day][1] += pairs
            if first["item__gold"] and any(
                gold_correct(project.task_kind, j, first["item__gold"]) is False for j in group
            ):
                gold_failures.append(first["item_id"])
            group = []
        if row is None:
            break
        group.append(row)
        rater = raters[row["rater_id"]]
        rater["count"] += 1
        if row["time_spent_ms"] is not None:
            rater["times"].append(row["time_spent_ms"] / 1000)
        rater["flags"] += sum(len(v) for v in (row["flags"] or {}).values())
        first_chosen, counted = position_bias([row])
        rater.setdefault("position", [0, 0])
        rater["position"][0] += first_chosen
        rater["position"][1] += counted
        position_first += first_chosen
        position_total += counted
        per_day[row["created_at"].date().isoformat()] += 1
        if row["created_at"] >= recent_start:
            per_hour[row["created_at"].strftime("%Y-%m-%dT%H:00")] += 1
        if row["ranking"] and len(row["ranking"]) > 1 and row["strength"]:
            strengths[row["strength"]] += 1
        elif row["ranking"] and len(row["ranking"]) == 1:
            strengths[0] += 1
    project_acc = accumulators["project"]
    loo = per_rater_share(project_acc.loo)
    reference = per_rater_share(project_acc.reference)
    qualities = {q.rater_id: q for q in RaterQuality.objects.filter(project=project).select_related("rater")}
    usernames = dict(project.members.filter(pk__in=set(raters) | set(qualities)).values_list("pk", "username"))
    rater_rows = []
    for rater_id in sorted(set(raters) | set(qualities), key=lambda r: usernames.get(r, "")):
        info = raters.get(rater_id, {"times": [], "count": 0, "flags": 0, "position": [0, 0]})
        quality = qualities.get(rater_id)
        position = info.get("position", [0, 0])
        rater_rows.append(
            {
                "rater_id": rater_id,
                "username": usernames.get(rater_id, f"#{rater_id}"),
                "judgements": info["count"],
                "median_seconds": statistics.median(info["times"]) if info["times"] else None,
                "gold_accuracy": quality.gold_accuracy if quality else None,
                "gold_judged": quality.gold_judged if quality else 0,
                "suspended": bool(quality and quality.suspended),
                "loo_agreement": _ratio(loo.get(rater_id)),
                "reference_agreement": _ratio(reference.get(rater_id)),
                "flags_used": info["flags"],
                "position_bias": position[0] / position[1] if position[1] else None,
            }
        )
    adjudicated = set(Adjudication.objects.filter(item__batch__project=project).values_list("item_id", flat=True))
    disputed = [i for i in project_acc.disputed if i not in adjudicated][:DISPUTED_LIMIT]
    failures = [i for i in gold_failures if i not in adjudicated][:DISPUTED_LIMIT]
    data = {
        "agreement": project_acc.summary(),
        "batches": _batch_rows(project, batches, accumulators, now),
        "raters": rater_rows,
        "position_bias": {"value": position_first / position_total if position_total else None, "n": position_total},
        "throughput_per_day": sorted(per_day.items()),
        # pairwise agreement of the items completed (last judged) each day
        "agreement_per_day": [(day, round(a / n, 4)) for day, (a, n) in sorted(agreement_by_day.items())],
        "throughput_per_hour": sorted(per_hour.items()),
        "strength_distribution": sorted(strengths.items()),
        "disputed_items": disputed,
        "gold_failure_items": failures,
        "suspended_raters": [r["rater_id"] for r in rater_rows if r["suspended"]],
    }
    judgement_count = sum(info["count"] for info in raters.values())
    stats, _ = ProjectStats.objects.update_or_create(
        project=project, defaults={"computed_at": now, "judgement_count": judgement_count, "data": data}
    )
    return stats


def _with_sentinel(rows):  # type: ignore[no-untyped-def]
    yield from rows
    yield None


def _ratio(pair: tuple[int, int] | None) -> float | None:
    return pair[0] / pair[1] if pair and pair[1] else None


def _batch_rows(project: Project, batches: dict[int, Batch], accumulators, now) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    counts = {
        row["batch_id"]: row
        for row in Item.objects.filter(batch__project=project)
        .values("batch_id")
        .annotate(
            complete=Count("id", filter=Q(judgement_count__gte=project.overlap)),
            judgements=Sum("judgement_count"),
        )
    }
    recent = dict(
        Judgement.objects.filter(project=project, created_at__gte=now - timedelta(hours=1))
        .values("item__batch_id")
        .annotate(n=Count("id"))
        .values_list("item__batch_id", "n")
    )
    assistance = {
        row["item__batch_id"]: row
        for row in AssistArtifact.objects.filter(item__batch__project=project)
        .values("item__batch_id")
        .annotate(
            done=Count("id", filter=Q(status="done")),
            failed=Count("id", filter=Q(status="failed")),
            pending=Count("id", filter=Q(status__in=["pending", "running"])),
        )
    }
    rows = []
    for batch_id, batch in sorted(batches.items(), key=lambda kv: (-kv[1].priority, kv[0])):
        count = counts.get(batch_id, {"complete": 0, "judgements": 0})
        target = batch.item_count * project.overlap
        judgements = count["judgements"] or 0
        remaining = max(target - judgements, 0)
        per_hour = recent.get(batch_id, 0)
        rows.append(
            {
                "batch_id": batch_id,
                "name": batch.name,
                "status": batch.status,
                "items": batch.item_count,
                "complete": count["complete"],
                "judgements": judgements,
                "percent": round(100 * min(judgements, target) / target, 1) if target else 0.0,
                "judgements_last_hour": per_hour,
                "eta_hours": round(remaining / per_hour, 1)
                if per_hour and remaining
                else (0 if not remaining else None),
                "agreement": accumulators[batch_id].summary() if batch_id in accumulators else None,
                "assistance": {k: assistance.get(batch_id, {}).get(k, 0) for k in ("done", "pending", "failed")},
            }
        )
    return rows
