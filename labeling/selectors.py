"""Reads, always scoped to what the user may see. Other users' objects are simply not found (404)."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404

from labeling.models import Batch, Project


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def project_get_for_user(*, user: AbstractBaseUser, project_id: int) -> Project:
    return get_object_or_404(project_list_for_user(user=user), pk=project_id)


def batch_list_for_project(*, project: Project) -> QuerySet[Batch]:
    return project.batches.all()


def batch_get_for_user(*, user: AbstractBaseUser, project_id: int, batch_id: int) -> Batch:
    project = project_get_for_user(user=user, project_id=project_id)
    return get_object_or_404(project.batches.select_related("project"), pk=batch_id)


def batch_progress(*, batch: Batch) -> dict[str, Any]:
    """Item counts of one batch: total, complete (judged by `overlap` raters), in progress, judgements."""
    overlap = batch.project.overlap
    totals = batch.items.aggregate(
        items=Count("id"),
        complete=Count("id", filter=Q(judgement_count__gte=overlap)),
        leased=Sum("lease_count"),
        judgements=Sum("judgement_count"),
        started=Count("id", filter=Q(judgement_count__gt=0) & Q(judgement_count__lt=overlap)),
    )
    items = totals["items"] or 0
    target = items * overlap
    judgements = totals["judgements"] or 0
    return {
        "items": items,
        "complete": totals["complete"],
        "started": totals["started"],
        "leased": totals["leased"] or 0,
        "judgements": judgements,
        "judgements_target": target,
        "percent": round(100.0 * min(judgements, target) / target, 1) if target else 0.0,
    }


def batch_progress_many(*, batches: list[Batch]) -> dict[int, dict[str, Any]]:
    """Progress for several batches of one project in one query."""
    if not batches:
        return {}
    overlap = batches[0].project.overlap
    rows = (
        Batch.objects.filter(pk__in=[b.pk for b in batches])
        .annotate(
            n_complete=Count("items", filter=Q(items__judgement_count__gte=overlap)),
            n_judgements=Sum("items__judgement_count"),
        )
        .values("pk", "item_count", "n_complete", "n_judgements")
    )
    out = {}
    for row in rows:
        target = row["item_count"] * overlap
        judgements = row["n_judgements"] or 0
        out[row["pk"]] = {
            "items": row["item_count"],
            "complete": row["n_complete"],
            "judgements": judgements,
            "percent": round(100.0 * min(judgements, target) / target, 1) if target else 0.0,
        }
    return out


def project_members(*, project: Project) -> QuerySet:
    return project.memberships.select_related("user").annotate(username=F("user__username"))
