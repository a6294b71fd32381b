import logging

from celery import shared_task

from labeling.services.assignment import assignments_release_expired

logger = logging.getLogger(__name__)


@shared_task(name="labeling.release_expired_leases", queue="default", ignore_result=True)
def release_expired_leases() -> int:
    """Periodic sweep (Celery beat, every minute): expired leases go back to the pool.
    Safe to run twice or concurrently: rows are taken with SKIP LOCKED and re-checked."""
    return assignments_release_expired()


@shared_task(name="labeling.refresh_project_stats", queue="default", ignore_result=True)
def refresh_project_stats(project_id: int) -> int:
    """Recompute a project's quality figures (debounced after submits). Safe to run any number of times."""
    from labeling.models import Project
    from labeling.services.quality import project_stats_refresh

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        logger.info("project gone, no stats", extra={"project_id": project_id})
        return 0
    return project_stats_refresh(project=project).judgement_count


@shared_task(name="labeling.analyze_items", queue="default", ignore_result=True)
def analyze_items() -> None:
    """Refresh PostgreSQL's planner statistics of the item tables after a bulk import."""
    from django.db import connection

    from labeling.models import Item, Response

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Item._meta.db_table}, {Response._meta.db_table}")
