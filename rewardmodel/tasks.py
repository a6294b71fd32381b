import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from rewardmodel.models import DatasetSnapshot
from rewardmodel.services.snapshots import snapshot_build

logger = logging.getLogger(__name__)


@shared_task(
    name="rewardmodel.build_snapshot",
    queue="default",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def build_snapshot(snapshot_id: int) -> None:
    """Build one export snapshot. Queued after the snapshot's row is committed; safe to run twice (a done
    snapshot is left alone, and a second concurrent builder returns at once). Retries only when the
    database is unreachable; any other failure is recorded on the snapshot."""
    snapshot = DatasetSnapshot.objects.filter(pk=snapshot_id).first()
    if snapshot is None:
        logger.warning("export snapshot gone", extra={"snapshot_id": snapshot_id})
        return
    snapshot_build(snapshot=snapshot)
