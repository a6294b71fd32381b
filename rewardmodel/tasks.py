import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from rewardmodel.models import BatchScoring, DatasetSnapshot, TrainingRun
from rewardmodel.services.scoring import batch_scoring_execute
from rewardmodel.services.snapshots import snapshot_build
from rewardmodel.services.training import training_run_execute

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


@shared_task(name="rewardmodel.train_reward_model", queue="default", ignore_result=True)
def train_reward_model(run_id: int) -> None:
    """Train one reward model. No retries: a training error marks the run failed with its reason. With
    `acks_late`, a worker killed mid-run gets this message redelivered; the service then resumes from the
    run's last checkpoint (a done or failed run is left alone, a run already training elsewhere too)."""
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("training run gone", extra={"run_id": run_id})
        return
    training_run_execute(run=run)


@shared_task(
    name="rewardmodel.score_batch",
    queue="default",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def score_batch(scoring_id: int) -> None:
    """Score one batch's responses with a done reward model. Safe to run twice (scores are upserted, a
    done scoring is left alone); retries only when the database is unreachable."""
    scoring = BatchScoring.objects.filter(pk=scoring_id).first()
    if scoring is None:
        logger.warning("batch scoring gone", extra={"scoring_id": scoring_id})
        return
    batch_scoring_execute(scoring=scoring)
