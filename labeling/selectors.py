"""Reads, always scoped to what the user may see. Other users' objects are simply not found (404)."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from assist.models import AssistArtifact
from labeling.markdown import render_markdown
from labeling.models import Assignment, Batch, Item, Judgement, Project, Response


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
    """Progress and assistance status for several batches of one project in two queries."""
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
    assistance = {
        row["item__batch_id"]: row
        for row in AssistArtifact.objects.filter(item__batch_id__in=[b.pk for b in batches])
        .values("item__batch_id")
        .annotate(
            done=Count("id", filter=Q(status="done")),
            failed=Count("id", filter=Q(status="failed")),
            running=Count("id", filter=Q(status="running")),
            pending=Count("id", filter=Q(status="pending")),
        )
    }
    empty = {"done": 0, "failed": 0, "running": 0, "pending": 0}
    out = {}
    for row in rows:
        target = row["item_count"] * overlap
        judgements = row["n_judgements"] or 0
        out[row["pk"]] = {
            "items": row["item_count"],
            "complete": row["n_complete"],
            "judgements": judgements,
            "percent": round(100.0 * min(judgements, target) / target, 1) if target else 0.0,
            "assistance": assistance.get(row["pk"], empty),
        }
    return out


def project_members(*, project: Project) -> QuerySet:
    return project.memberships.select_related("user").annotate(username=F("user__username"))


def assignment_get_for_rater(*, user: AbstractBaseUser, assignment_id: int) -> Assignment:
    """Only the assigned rater sees an assignment; to anyone else it does not exist."""
    return get_object_or_404(Assignment.objects.select_related("project"), pk=assignment_id, rater=user)


def task_payload(*, assignment: Assignment, assists: list[dict[str, Any]]) -> dict[str, Any]:
    """What a rater needs to judge one assignment: the item, its responses in this rater's display
    order, rendered (sanitized) Markdown beside the raw text, and the assistance shown."""
    item = Item.objects.get(pk=assignment.item_id)
    responses = {r.response_id: r for r in Response.objects.filter(item_id=item.pk)}
    if isinstance(item.prompt, list):
        prompt = [
            {"role": m["role"], "content": m["content"], "html": render_markdown(m["content"])} for m in item.prompt
        ]
    else:
        prompt = item.prompt
    return {
        "assignment": assignment.pk,
        "expires_at": assignment.expires_at,
        "item": {
            "id": item.pk,
            "external_id": item.external_id,
            "kind": item.kind,
            "prompt": prompt,
            "prompt_html": render_markdown(item.prompt) if isinstance(item.prompt, str) else None,
            "context": item.context,
            "context_html": render_markdown(item.context) if item.context else "",
        },
        "responses": [
            {
                "id": rid,
                "text": responses[rid].text,
                "html": render_markdown(responses[rid].text),
                "steps": responses[rid].steps,
            }
            for rid in assignment.display_order
        ],
        "assists": assists,
        "assistance_shown": assignment.assistance_shown,
    }


def _start_of_day():  # type: ignore[no-untyped-def]
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def rater_progress(*, user: AbstractBaseUser, project: Project) -> dict[str, int]:
    """The rater's own judgement counts in a project: today (UTC) and in total."""
    return Judgement.objects.filter(project=project, rater=user).aggregate(
        today=Count("id", filter=Q(created_at__gte=_start_of_day())), total=Count("id")
    )


def rater_progress_by_project(*, user: AbstractBaseUser) -> dict[int, dict[str, int]]:
    """rater_progress for every project of the rater, in one query."""
    rows = (
        Judgement.objects.filter(rater=user)
        .values("project_id")
        .annotate(today=Count("id", filter=Q(created_at__gte=_start_of_day())), total=Count("id"))
    )
    return {row["project_id"]: {"today": row["today"], "total": row["total"]} for row in rows}
