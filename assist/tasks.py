"""Celery tasks: thin wrappers that take ids and call the generation services."""

import logging

from celery import shared_task
from django.conf import settings

from assist.backends.base import TransientBackendError
from assist.services.generation import assist_mark_failed, assist_plan_batch, assist_run_chunk
from labeling.models import Batch

logger = logging.getLogger(__name__)

MAX_RETRIES = 5


@shared_task(name="assist.plan_batch", queue="default", ignore_result=True)
def plan_batch(batch_id: int) -> int:
    """Create the batch's missing artifacts and queue them in chunks. Safe to run again: it only
    queues what is still missing or failed."""
    batch = Batch.objects.select_related("project").filter(pk=batch_id).first()
    if batch is None:
        logger.info("batch gone, nothing to plan", extra={"batch_id": batch_id})
        return 0
    ids = assist_plan_batch(batch=batch)
    size = settings.OVERSIGHT_ASSIST_CHUNK_SIZE
    for start in range(0, len(ids), size):
        generate_chunk.delay(ids[start : start + size])
    return len(ids)


@shared_task(bind=True, name="assist.generate_chunk", queue="default", ignore_result=True, max_retries=MAX_RETRIES)
def generate_chunk(self, artifact_ids: list[int]) -> int:  # type: ignore[no-untyped-def]
    """One batched generation for a chunk. Transient errors retry with exponential backoff (capped);
    when retries run out the artifacts are marked failed with the reason."""
    try:
        return assist_run_chunk(artifact_ids=artifact_ids)
    except TransientBackendError as exc:
        if self.request.retries >= MAX_RETRIES:
            assist_mark_failed(artifact_ids=artifact_ids, error=f"gave up after {MAX_RETRIES} retries: {exc}")
            return 0
        raise self.retry(exc=exc, countdown=min(2 ** (self.request.retries + 1), 300)) from exc
