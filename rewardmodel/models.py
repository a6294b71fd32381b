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
