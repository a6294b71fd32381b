"""Submitting a judgement. Idempotent: one judgement per assignment (a OneToOne in the database)."""

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common.exceptions import ApplicationError
from labeling.models import Assignment, Item, Judgement, TaskKind
from labeling.services.import_format import LineError, validate_ranking

logger = logging.getLogger(__name__)

MAX_RATIONALE = 10_000


@dataclass(frozen=True, slots=True)
class ComparisonAnswer:
    ranking: list[list[str]]
    strength: int | None = None
    all_bad: bool = False
    flags: dict[str, list[str]] | None = None
    rationale: str = ""
    assist_ratings: dict[str, int] | None = None
    time_spent_ms: int | None = None


def judgement_submit(*, assignment: Assignment, answer: ComparisonAnswer) -> tuple[Judgement, bool]:
    """Record the rater's answer for `assignment`; return (judgement, created).

    Validates against the item and project (400 naming the field). The same submit again returns the
    existing judgement with created=False; a different answer to an already judged assignment is a 409.
    Locks the assignment row (FOR UPDATE) and then updates the item's counters, so concurrent identical
    submits serialise: one judgement, never a 500. Only an active lease can be judged; a lease that has
    expired but not yet been released still counts as held, so a late answer is kept.
    """
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().select_related("project").get(pk=assignment.pk)
        existing = Judgement.objects.filter(assignment=locked).first()
        if existing is not None:
            if _same_answer(existing, answer):
                return existing, False
            raise ApplicationError(
                "This task was already submitted with different answers.", code="already_submitted", status_code=409
            )
        if locked.status != Assignment.Status.ACTIVE:
            raise ApplicationError(
                f"This assignment is {locked.status}; it can no longer be submitted.",
                code="not_active",
                status_code=409,
            )
        fields = _validated(locked, answer)
        try:
            with transaction.atomic():
                judgement = Judgement.objects.create(
                    assignment=locked,
                    project_id=locked.project_id,
                    item_id=locked.item_id,
                    rater_id=locked.rater_id,
                    display_order=locked.display_order,
                    assistance_shown=locked.assistance_shown,
                    **fields,
                )
        except IntegrityError:
            # Only reachable if the row lock was bypassed; the constraint still guarantees one judgement.
            return Judgement.objects.get(assignment=locked), False
        locked.status = Assignment.Status.SUBMITTED
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "completed_at"])
        Item.objects.filter(pk=locked.item_id).update(
            judgement_count=F("judgement_count") + 1, lease_count=F("lease_count") - 1
        )
    logger.info("judgement submitted", extra={"judgement_id": judgement.pk, "assignment_id": locked.pk})
    return judgement, True


def _field_error(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", errors=[{"field": field, "message": message}])


def _validated(assignment: Assignment, answer: ComparisonAnswer) -> dict[str, Any]:
    project = assignment.project
    if project.task_kind != TaskKind.COMPARISON:
        raise _field_error("kind", f"this project collects {project.task_kind} judgements, not comparisons")
    response_ids = set(assignment.display_order)
    try:
        ranking = validate_ranking(answer.ranking, response_ids)
    except LineError as exc:
        raise _field_error(
            exc.field or "ranking", f"ranking {exc.message}" if exc.field == "ranking" else exc.message
        ) from None
    all_tied = len(ranking) == 1
    strength = answer.strength
    if project.strength_max and len(response_ids) == 2 and not all_tied and strength is None:
        raise _field_error("strength", "choose how strong your preference is")
    if strength is not None:
        if all_tied and strength != 0:
            raise _field_error("strength", "a tie has no preference strength")
        if not all_tied and not 1 <= strength <= max(project.strength_max, 1):
            raise _field_error("strength", f"must be between 1 and {project.strength_max}")
    flags = answer.flags or {}
    allowed = set(project.flags or [])
    for response_id, names in flags.items():
        if response_id not in response_ids:
            raise _field_error(f"flags.{response_id}", f"unknown response id '{response_id}'")
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise _field_error(f"flags.{response_id}", f"'{unknown[0]}' is not one of this project's flags")
    flags = {rid: sorted(set(names)) for rid, names in flags.items() if names}
    rationale = (answer.rationale or "").strip()
    if project.rationale_required and not rationale:
        raise _field_error("rationale", "this project asks for a rationale")
    if len(rationale) > MAX_RATIONALE:
        raise _field_error("rationale", f"is longer than {MAX_RATIONALE} characters")
    ratings = {str(k): v for k, v in (answer.assist_ratings or {}).items()}
    shown = {str(pk) for pk in assignment.assists_shown}
    for artifact_id, rating in ratings.items():
        if artifact_id not in shown:
            raise _field_error(f"assist_ratings.{artifact_id}", "this assistance was not shown with the task")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 7:
            raise _field_error(f"assist_ratings.{artifact_id}", "helpfulness must be an integer from 1 to 7")
    return {
        "ranking": ranking,
        "strength": None if all_tied else strength,
        "all_bad": bool(answer.all_bad),
        "flags": flags,
        "rationale": rationale,
        "assist_ratings": ratings,
        "time_spent_ms": answer.time_spent_ms,
    }


def _same_answer(judgement: Judgement, answer: ComparisonAnswer) -> bool:
    return (
        judgement.ranking == answer.ranking
        and bool(judgement.all_bad) == bool(answer.all_bad)
        and (judgement.strength == answer.strength or (judgement.strength is None and answer.strength in (None, 0)))
    )
