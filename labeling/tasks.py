import logging

from celery import shared_task

from labeling.services.assignment import assignments_release_expired

logger = logging.getLogger(__name__)


@shared_task(name="labeling.release_expired_leases", queue="default", ignore_result=True)
def release_expired_leases() -> int:
    """Periodic sweep (Celery beat, every minute): expired leases go back to the pool.
    Safe to run twice or concurrently: rows are taken with SKIP LOCKED and re-checked."""
    return assignments_release_expired()
