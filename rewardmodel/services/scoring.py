"""Scoring a batch's responses with a done reward model.

Each item's responses are scored with the item's prompt the way the run's export wrote it (context
first, chat prompts as transcripts), so a score means what it meant in training. Scores are stored as
ResponseScore rows, one per run and response (upserted: scoring again writes the same rows). A batch
is scored by a Celery task, items in bounded chunks; the model loads once per worker process.
"""

import logging
from collections import OrderedDict
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from common.exceptions import ApplicationError
from labeling.models import Batch, Item, Response, TaskKind
from labeling.selectors import project_list_for_user
from rewardmodel.models import BatchScoring, ResponseScore, TrainingRun
from rewardmodel.services.snapshots import exported_prompt
from rewardmodel.training.data import Group, prompt_text

logger = logging.getLogger(__name__)

SCORE_CHUNK_ITEMS = 256
MODEL_CACHE_SIZE = 2
# (run id, model folder) -> (model, tokenizer): loaded once per worker process.
_MODELS: OrderedDict[tuple[int, str], tuple[Any, Any]] = OrderedDict()


def reward_model_load(*, run: TrainingRun) -> tuple[Any, Any]:
    """(model, tokenizer) of a done run, from this process's cache (the last MODEL_CACHE_SIZE runs)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    key = (run.pk, str(run.model_directory))
    if key in _MODELS:
        _MODELS.move_to_end(key)
        return _MODELS[key]
    model = AutoModelForSequenceClassification.from_pretrained(run.model_directory)
    tokenizer = AutoTokenizer.from_pretrained(run.model_directory)
    model.eval()
    _MODELS[key] = (model, tokenizer)
    while len(_MODELS) > MODEL_CACHE_SIZE:
        _MODELS.popitem(last=False)
    return model, tokenizer


def batch_scoring_request(
    *, run: TrainingRun, batch_id: int, requested_by: AbstractBaseUser | None, run_inline: bool = False
) -> BatchScoring:
    """Ask for `batch_id`'s responses to be scored by `run`; return the scoring.

    The run must be done (409 otherwise); the batch must be a comparison batch of one of the user's
    projects (400 naming `batch` otherwise; None: any batch, for the command line). One scoring per run
    and batch: a queued, running or done one is returned as it is; a failed one is queued again. The
    task is queued after commit (or the scoring runs here when `run_inline`).
    """
    if run.status != TrainingRun.Status.DONE:
        raise ApplicationError(
            f"This reward model is {run.status}; score with it once it is done.", code="not_ready", status_code=409
        )
    batches = (
        Batch.objects.all()
        if requested_by is None
        else Batch.objects.filter(project__in=project_list_for_user(user=requested_by))
    )
    batch = batches.select_related("project").filter(pk=batch_id).first()
    if batch is None:
        raise ApplicationError(
            f"No batch with id {batch_id}.", code="invalid", errors=[{"field": "batch", "message": "not found"}]
        )
    if batch.project.task_kind != TaskKind.COMPARISON:
        raise ApplicationError(
            "Only comparison batches can be scored.",
            code="invalid",
            errors=[{"field": "batch", "message": "not a comparison batch"}],
        )
    with transaction.atomic():
        scoring, created = BatchScoring.objects.select_for_update().get_or_create(
            run=run, batch=batch, defaults={"created_by": requested_by}
        )
        queue = created or scoring.status == BatchScoring.Status.FAILED
        if scoring.status == BatchScoring.Status.FAILED:
            scoring.status = BatchScoring.Status.QUEUED
            scoring.error = ""
            scoring.save(update_fields=["status", "error"])
        if queue and not run_inline:
            from rewardmodel.tasks import score_batch

            scoring_id = scoring.pk
            transaction.on_commit(lambda: score_batch.delay(scoring_id))
    if queue and run_inline:
        scoring = batch_scoring_execute(scoring=scoring)
    return scoring


def batch_scoring_execute(*, scoring: BatchScoring) -> BatchScoring:
    """Score every response of the scoring's batch, SCORE_CHUNK_ITEMS items at a time; return it.

    Idempotent: a done scoring is returned unchanged; scores are upserted per (run, response), so a
    redelivered task after a dead worker (status still running) simply scores again. Errors mark the
    scoring failed with the reason and are not raised (asking again re-queues it).
    """
    scoring.refresh_from_db()
    if scoring.status == BatchScoring.Status.DONE:
        return scoring
    BatchScoring.objects.filter(pk=scoring.pk).update(status=BatchScoring.Status.RUNNING, error="")
    run = scoring.run
    try:
        model, tokenizer = reward_model_load(run=run)
        max_length = int(run.config.get("max_length", 256))
        conversational = bool((run.snapshot.stats or {}).get("conversational"))
        scored = 0
        last_id = 0
        while True:
            items = list(
                Item.objects.filter(batch_id=scoring.batch_id, pk__gt=last_id)
                .order_by("id")
                .values_list("id", "prompt", "context")[:SCORE_CHUNK_ITEMS]
            )
            if not items:
                break
            last_id = items[-1][0]
            scored += _score_items(
                run=run,
                model=model,
                tokenizer=tokenizer,
                items=items,
                max_length=max_length,
                conversational=conversational,
            )
            BatchScoring.objects.filter(pk=scoring.pk).update(responses_scored=scored)
    except Exception as exc:
        logger.exception("batch scoring failed", extra={"scoring_id": scoring.pk})
        BatchScoring.objects.filter(pk=scoring.pk).update(
            status=BatchScoring.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000]
        )
    else:
        BatchScoring.objects.filter(pk=scoring.pk).update(
            status=BatchScoring.Status.DONE, responses_scored=scored, finished_at=timezone.now()
        )
        logger.info("batch scored", extra={"scoring_id": scoring.pk, "responses": scored})
    scoring.refresh_from_db()
    return scoring


def _score_items(
    *,
    run: TrainingRun,
    model: Any,
    tokenizer: Any,
    items: list[tuple[int, Any, str]],
    max_length: int,
    conversational: bool,
) -> int:
    from rewardmodel.training.trainer import score_groups

    responses: dict[int, list[tuple[int, str]]] = {}
    for pk, item_id, text in (
        Response.objects.filter(item_id__in=[item[0] for item in items])
        .order_by("item_id", "position")
        .values_list("pk", "item_id", "text")
    ):
        responses.setdefault(item_id, []).append((pk, text))
    groups: list[Group] = []
    response_ids: list[list[int]] = []
    for item_id, prompt, context in items:
        rows = responses.get(item_id)
        if not rows:
            continue
        prompt_value = exported_prompt(prompt, context, conversational=conversational)
        groups.append(Group(key=str(item_id), prompt=prompt_text(prompt_value), responses=[t for _, t in rows]))
        response_ids.append([pk for pk, _ in rows])
    if not groups:
        return 0
    rewards = score_groups(model, tokenizer, groups, max_length=max_length)
    scores = [
        ResponseScore(run=run, response_id=pk, score=float(value))
        for pks, values in zip(response_ids, rewards, strict=True)
        for pk, value in zip(pks, values, strict=True)
    ]
    ResponseScore.objects.bulk_create(
        scores, update_conflicts=True, unique_fields=["run", "response"], update_fields=["score"]
    )
    return len(scores)
