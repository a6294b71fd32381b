"""Submitting a judgement. Idempotent: one judgement per assignment (a OneToOne in the database)."""

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.exceptions import ApplicationError
from labeling.models import Assignment, Item, Judgement, Response, TaskKind
from labeling.services.import_format import LineError, validate_ranking
from labeling.services.quality import gold_record, project_stats_schedule

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


@dataclass(frozen=True, slots=True)
class CritiqueAnswer:
    """flaws: [{"description", "severity": minor|major|critical, "start"?, "end"?, "quote"?}] with
    character offsets into the response text; critique_ratings: {artifact id: {"valid", "helpfulness"}}."""

    quality: int
    flaws: list[dict[str, Any]] = field(default_factory=list)
    no_flaws: bool = False
    critique_ratings: dict[str, dict[str, Any]] | None = None
    rationale: str = ""
    time_spent_ms: int | None = None


@dataclass(frozen=True, slots=True)
class StepsAnswer:
    step_labels: list[int]
    finish_reason: str
    rationale: str = ""
    time_spent_ms: int | None = None


Answer = ComparisonAnswer | CritiqueAnswer | StepsAnswer
ANSWER_KINDS: dict[type, str] = {
    ComparisonAnswer: TaskKind.COMPARISON,
    CritiqueAnswer: TaskKind.CRITIQUE,
    StepsAnswer: TaskKind.STEPS,
}
SEVERITIES = ("minor", "major", "critical")
FINISH_REASONS = ("found_error", "solution", "bad_problem", "give_up")
# Fields that must match for a repeated submit to count as the same answer (time spent may differ).
COMPARED_FIELDS = (
    "ranking",
    "strength",
    "all_bad",
    "flags",
    "flaws",
    "no_flaws",
    "quality",
    "critique_ratings",
    "step_labels",
    "finish_reason",
    "rationale",
    "assist_ratings",
)


def judgement_submit(*, assignment: Assignment, answer: Answer) -> tuple[Judgement, bool]:
    """Record the rater's answer for `assignment`; return (judgement, created).

    Validates against the item and project (400 naming the field). The same submit again returns the
    existing judgement with created=False; a different answer to an already judged assignment is a 409.
    Locks the assignment row (FOR UPDATE) and then updates the item's counters, so concurrent identical
    submits serialise: one judgement, never a 500. Only an active lease can be judged; a lease that has
    expired but not yet been released still counts as held, so a late answer is kept.
    """
    with transaction.atomic():
        locked = (
            Assignment.objects.select_for_update(of=("self",)).select_related("project", "item").get(pk=assignment.pk)
        )
        existing = Judgement.objects.filter(assignment=locked).first()
        if existing is None and locked.status != Assignment.Status.ACTIVE:
            raise ApplicationError(
                f"This assignment is {locked.status}; it can no longer be submitted.",
                code="not_active",
                status_code=409,
            )
        fields = _validated(locked, answer)
        if existing is not None:
            if all(getattr(existing, name) == fields.get(name, _DEFAULTS[name]) for name in COMPARED_FIELDS):
                return existing, False
            raise ApplicationError(
                "This task was already submitted with different answers.", code="already_submitted", status_code=409
            )
        # The assignment row lock serialises submits; the OneToOne constraint backs it up.
        judgement = Judgement.objects.create(
            assignment=locked,
            project_id=locked.project_id,
            item_id=locked.item_id,
            rater_id=locked.rater_id,
            display_order=locked.display_order,
            assistance_shown=locked.assistance_shown,
            **fields,
        )
        locked.status = Assignment.Status.SUBMITTED
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "completed_at"])
        Item.objects.filter(pk=locked.item_id).update(
            judgement_count=F("judgement_count") + 1, lease_count=F("lease_count") - 1
        )
        if locked.item.gold:
            gold_record(
                project=locked.project,
                rater_id=locked.rater_id,
                kind=locked.project.task_kind,
                answer=fields,
                gold=locked.item.gold,
            )
        project_stats_schedule(project_id=locked.project_id)
    logger.info("judgement submitted", extra={"judgement_id": judgement.pk, "assignment_id": locked.pk})
    return judgement, True


_DEFAULTS = {
    "ranking": None,
    "strength": None,
    "all_bad": False,
    "flags": {},
    "flaws": [],
    "no_flaws": False,
    "quality": None,
    "critique_ratings": {},
    "step_labels": None,
    "finish_reason": "",
    "rationale": "",
    "assist_ratings": {},
}


def _field_error(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", errors=[{"field": field, "message": message}])


def _validated(assignment: Assignment, answer: Answer) -> dict[str, Any]:
    project = assignment.project
    kind = ANSWER_KINDS[type(answer)]
    if project.task_kind != kind:
        raise _field_error("kind", f"this project collects {project.task_kind} judgements, not {kind}")
    rationale = (answer.rationale or "").strip()
    if project.rationale_required and not rationale:
        raise _field_error("rationale", "this project asks for a rationale")
    if len(rationale) > MAX_RATIONALE:
        raise _field_error("rationale", f"is longer than {MAX_RATIONALE} characters")
    common = {"rationale": rationale, "time_spent_ms": answer.time_spent_ms}
    if isinstance(answer, ComparisonAnswer):
        return {**common, **_validated_comparison(assignment, answer)}
    if isinstance(answer, CritiqueAnswer):
        return {**common, **_validated_critique(assignment, answer)}
    return {**common, **_validated_steps(assignment, answer)}


def _validated_comparison(assignment: Assignment, answer: ComparisonAnswer) -> dict[str, Any]:
    project = assignment.project
    response_ids = set(assignment.display_order)
    try:
        ranking = validate_ranking(answer.ranking, response_ids)
    except LineError as exc:
        message = f"ranking {exc.message}" if exc.field == "ranking" else exc.message
        raise _field_error(exc.field or "ranking", message) from None
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
    ratings = {str(k): v for k, v in (answer.assist_ratings or {}).items()}
    _check_assist_keys(assignment, ratings, "assist_ratings")
    for artifact_id, rating in ratings.items():
        if not _is_int_in(rating, 1, 7):
            raise _field_error(f"assist_ratings.{artifact_id}", "helpfulness must be an integer from 1 to 7")
    return {
        "ranking": ranking,
        "strength": None if all_tied else strength,
        "all_bad": bool(answer.all_bad),
        "flags": {rid: sorted(set(names)) for rid, names in flags.items() if names},
        "assist_ratings": ratings,
    }


def _validated_critique(assignment: Assignment, answer: CritiqueAnswer) -> dict[str, Any]:
    if not _is_int_in(answer.quality, 1, 7):
        raise _field_error("quality", "overall quality must be an integer from 1 to 7")
    text = Response.objects.filter(item_id=assignment.item_id).values_list("text", flat=True).first() or ""
    flaws = []
    for index, flaw in enumerate(answer.flaws or []):
        where = f"flaws[{index}]"
        if not isinstance(flaw, dict):
            raise _field_error(where, "must be an object")
        description = flaw.get("description")
        if not isinstance(description, str) or not description.strip():
            raise _field_error(f"{where}.description", "describe the flaw")
        if flaw.get("severity") not in SEVERITIES:
            raise _field_error(f"{where}.severity", f"must be one of {', '.join(SEVERITIES)}")
        clean = {"description": description.strip()[:5000], "severity": flaw["severity"]}
        start, end = flaw.get("start"), flaw.get("end")
        if start is not None or end is not None:
            if not (_is_int_in(start, 0, len(text)) and _is_int_in(end, 0, len(text)) and start < end):
                raise _field_error(f"{where}.start", f"the quoted span must satisfy 0 <= start < end <= {len(text)}")
            quote = flaw.get("quote")
            if quote is not None and quote != text[start:end]:
                raise _field_error(f"{where}.quote", "does not match the response text at start:end")
            clean.update(start=start, end=end, quote=text[start:end])
        flaws.append(clean)
    if answer.no_flaws and flaws:
        raise _field_error("no_flaws", "you listed flaws and also said there are none")
    if not answer.no_flaws and not flaws:
        raise _field_error("flaws", "list at least one flaw, or say that you found none")
    ratings = {str(k): v for k, v in (answer.critique_ratings or {}).items()}
    _check_assist_keys(assignment, ratings, "critique_ratings")
    for artifact_id, rating in ratings.items():
        if not isinstance(rating, dict) or not isinstance(rating.get("valid"), bool):
            raise _field_error(
                f"critique_ratings.{artifact_id}.valid", "say whether the critique is valid (true/false)"
            )
        if not _is_int_in(rating.get("helpfulness"), 1, 7):
            raise _field_error(f"critique_ratings.{artifact_id}.helpfulness", "must be an integer from 1 to 7")
    shown_critiques = {str(pk) for pk in _critique_artifact_ids(assignment)}
    missing = sorted(shown_critiques - set(ratings))
    if missing:
        raise _field_error(f"critique_ratings.{missing[0]}", "rate every AI critique you were shown")
    return {
        "flaws": flaws,
        "no_flaws": bool(answer.no_flaws),
        "quality": answer.quality,
        "critique_ratings": {k: {"valid": v["valid"], "helpfulness": v["helpfulness"]} for k, v in ratings.items()},
    }


def _validated_steps(assignment: Assignment, answer: StepsAnswer) -> dict[str, Any]:
    steps = Response.objects.filter(item_id=assignment.item_id).values_list("steps", flat=True).first() or []
    labels = answer.step_labels
    if not isinstance(labels, list) or not all(label in (-1, 0, 1) and not isinstance(label, bool) for label in labels):
        raise _field_error("step_labels", "each step label must be -1, 0 or 1")
    if len(labels) > len(steps):
        raise _field_error("step_labels", f"the solution has {len(steps)} steps, got {len(labels)} labels")
    first_error = labels.index(-1) if -1 in labels else None
    if assignment.project.stop_at_first_error and first_error is not None and len(labels) > first_error + 1:
        raise _field_error(f"step_labels[{first_error + 1}]", "labelling stops at the first -1; no labels after it")
    complete = len(labels) == len(steps)
    stopped = assignment.project.stop_at_first_error and first_error is not None
    if answer.finish_reason not in FINISH_REASONS:
        raise _field_error("finish_reason", f"choose one of {', '.join(FINISH_REASONS)}")
    if answer.finish_reason == "found_error" and first_error is None:
        raise _field_error("finish_reason", "found_error needs a step labelled -1")
    if answer.finish_reason == "solution" and not complete:
        raise _field_error("step_labels", "label every step to finish with 'solution'")
    if answer.finish_reason in ("found_error", "solution") and not (complete or stopped):
        raise _field_error("step_labels", "label every step, or stop at the first -1")
    return {"step_labels": labels, "finish_reason": answer.finish_reason}


def _critique_artifact_ids(assignment: Assignment) -> list[int]:
    from assist.models import AssistArtifact

    return list(
        AssistArtifact.objects.filter(pk__in=assignment.assists_shown, kind="critique").values_list("pk", flat=True)
    )


def _check_assist_keys(assignment: Assignment, ratings: dict[str, Any], field_name: str) -> None:
    shown = {str(pk) for pk in assignment.assists_shown}
    for artifact_id in ratings:
        if artifact_id not in shown:
            raise _field_error(f"{field_name}.{artifact_id}", "this assistance was not shown with the task")


def _is_int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
