from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q


class DatasetSnapshot(models.Model):
    """One export of a preference dataset: its definition, and once done its files, counts and content hash.

    A snapshot is written once: queued → running → done (or failed, and then retried). A done snapshot is
    never rebuilt or changed; its files are read-only on disk. The definition holds every option with its
    default filled in, so the same definition on the same data gives the same rows and the same hash.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200, blank=True)
    export_format = models.CharField(max_length=40, help_text="A name from the export format registry.")
    definition = models.JSONField(help_text="Every option of the export, defaults filled in.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="dataset_snapshots"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    progress_rows = models.PositiveBigIntegerField(default=0, help_text="Rows written so far (while running).")
    judgements_total = models.PositiveBigIntegerField(
        default=0, help_text="Judgements in the selection when it was queued (sizes the progress bar)."
    )
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per split, items, exclusions by reason.")
    stats = models.JSONField(default=dict, blank=True, help_text="Agreement and label distribution.")
    files = models.JSONField(default=list, blank=True, help_text="[{name, bytes, sha256}] in the snapshot folder.")
    content_hash = models.CharField(max_length=64, blank=True, help_text="sha256 over the exported rows.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="snapshot_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | (~Q(content_hash="") & Q(finished_at__isnull=False)),
                name="snapshot_done_has_hash",
            ),
        ]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="snapshot_owner_recent")]

    def __str__(self) -> str:
        return self.name or f"export {self.pk}"

    @property
    def directory(self) -> Path:
        """Where a done snapshot's files live (under MEDIA_ROOT)."""
        return Path(settings.MEDIA_ROOT) / "exports" / str(self.pk)

    @property
    def total_rows(self) -> int:
        rows = (self.counts or {}).get("rows", {})
        return sum(rows.values())


class TrainingRun(models.Model):
    """A reward model trained on one done export snapshot: its config, live progress, metrics and files.

    queued → running → done | failed. A worker that dies mid-run leaves the run `running` with a
    checkpoint on disk; the redelivered task (or a re-run) resumes from it. Files live in `directory`:
    `model/` (the checkpoint, loadable with AutoModelForSequenceClassification.from_pretrained, with its
    tokenizer and the run card README.md + run.json) and, while training, `checkpoint/`.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200, blank=True)
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.PROTECT, related_name="training_runs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    config = models.JSONField(help_text="The TrainConfig, every field filled in.")
    progress = models.JSONField(
        default=dict, blank=True, help_text="{step, total_steps, epoch, loss, pairs_per_second, updated_at}."
    )
    loss_curve = models.JSONField(default=list, blank=True, help_text="Training loss per step.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out evaluation on the test split.")
    summary = models.JSONField(default=dict, blank=True, help_text="Steps, pairs, pairs/s, seconds.")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="training_run_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(finished_at__isnull=False), name="training_run_done_has_finish"
            ),
        ]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="training_run_owner_recent")]

    def __str__(self) -> str:
        return self.name or f"reward model {self.pk}"

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "reward_models" / str(self.pk)

    @property
    def model_directory(self) -> Path:
        return self.directory / "model"


class BatchScoring(models.Model):
    """One batch's responses scored by one done training run (at most one scoring per run and batch).
    queued → running → done | failed; the scores are ResponseScore rows."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="scorings")
    batch = models.ForeignKey("labeling.Batch", on_delete=models.CASCADE, related_name="reward_scorings")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    responses_scored = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "batch"], name="batch_scoring_one_per_run_and_batch"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="batch_scoring_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} on batch {self.batch_id}"


class ResponseScore(models.Model):
    """The reward a run gives one response (in the context of its item's prompt)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="scores", db_index=False)
    response = models.ForeignKey("labeling.Response", on_delete=models.CASCADE, related_name="reward_scores")
    score = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "response"], name="response_score_one_per_run")]

    def __str__(self) -> str:
        return f"{self.score:.3f}"
