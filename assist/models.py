from django.conf import settings
from django.db import models
from django.db.models import Q


class AssistKind(models.TextChoices):
    CRITIQUE = "critique", "Critique"
    SUMMARY = "summary", "Summary"


class PromptTemplate(models.Model):
    """A versioned prompt. Rows are never edited: a change is a new version, so every artifact keeps
    the exact prompt it was made with. The newest active version of a kind is used."""

    kind = models.CharField(max_length=20, choices=AssistKind.choices)
    version = models.PositiveIntegerField()
    system = models.TextField(help_text="System message.")
    template = models.TextField(help_text="User message; placeholders: {prompt} {response} {context}.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="prompt_template_version_unique"),
            models.CheckConstraint(condition=Q(kind__in=["critique", "summary"]), name="prompt_template_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}"


class AssistArtifact(models.Model):
    """One piece of AI assistance for an item or one of its responses, with its provenance."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="assist_artifacts")
    response = models.ForeignKey(
        "labeling.Response", null=True, blank=True, on_delete=models.CASCADE, related_name="assist_artifacts"
    )
    kind = models.CharField(max_length=20, choices=AssistKind.choices)
    target = models.CharField(max_length=20, help_text="'response' or 'context'.")
    backend = models.CharField(max_length=100)
    model_id = models.CharField(max_length=300)
    template = models.ForeignKey(PromptTemplate, on_delete=models.PROTECT, related_name="artifacts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(blank=True)
    error = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Generation settings used.")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One artifact per target, kind, model and prompt version: generation is idempotent.
            models.UniqueConstraint(
                fields=["item", "response", "kind", "model_id", "template"],
                condition=Q(response__isnull=False),
                name="assist_artifact_unique_per_response",
            ),
            models.UniqueConstraint(
                fields=["item", "kind", "model_id", "template"],
                condition=Q(response__isnull=True),
                name="assist_artifact_unique_per_item",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "failed"]), name="assist_artifact_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(target__in=["response", "context"]), name="assist_artifact_target_valid"
            ),
        ]
        indexes = [models.Index(fields=["item", "status"], name="assist_artifact_item_status")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.response_id or self.item_id} ({self.status})"
