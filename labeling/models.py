from django.conf import settings
from django.db import models
from django.db.models import Q


class TaskKind(models.TextChoices):
    COMPARISON = "comparison", "Comparison"
    CRITIQUE = "critique", "Critique"
    STEPS = "steps", "Step labels"


class AssistanceMode(models.TextChoices):
    ON = "on", "On for every assignment"
    OFF = "off", "Off"
    RANDOMISED = "randomised", "Randomised per assignment (measures uplift)"


def default_flags() -> list[str]:
    return ["hallucination", "harmful", "fails instruction"]


def default_strength_labels() -> list[str]:
    return ["slightly better", "better", "much better"]


class Project(models.Model):
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, help_text="Markdown shown to raters.")
    task_kind = models.CharField(max_length=20, choices=TaskKind.choices, default=TaskKind.COMPARISON)
    strength_labels = models.JSONField(
        default=default_strength_labels,
        blank=True,
        help_text="Preference-strength scale, weakest first; strength is 1..len. Empty: not asked.",
    )
    flags = models.JSONField(default=default_flags, blank=True, help_text="Per-response flags raters may tag.")
    rationale_required = models.BooleanField(default=False)
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Distinct raters per item.")
    lease_seconds = models.PositiveIntegerField(default=1800, help_text="How long an assignment is held.")
    assistance_mode = models.CharField(max_length=20, choices=AssistanceMode.choices, default=AssistanceMode.ON)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProjectMembership", related_name="projects", blank=True
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1) & Q(overlap__lte=100), name="project_overlap_range"),
            models.CheckConstraint(condition=Q(lease_seconds__gte=30), name="project_lease_min"),
            models.CheckConstraint(condition=Q(task_kind__in=TaskKind.values), name="project_task_kind_valid"),
            models.CheckConstraint(
                condition=Q(assistance_mode__in=AssistanceMode.values), name="project_assistance_mode_valid"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="project_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def strength_max(self) -> int:
        return len(self.strength_labels or [])


class ProjectMembership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project}"


class Batch(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"
        DONE = "done", "Done"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.LIVE)
    priority = models.IntegerField(default=0, help_text="Higher is served first.")
    item_count = models.PositiveIntegerField(default=0)
    source_filename = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-priority", "id"]
        verbose_name_plural = "batches"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "live", "paused", "done"]), name="batch_status_valid"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="batch_name_not_empty"),
        ]
        indexes = [models.Index(fields=["project", "status", "-priority"], name="batch_serving")]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    # project is denormalised from batch so the assignment query stays on one table.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=TaskKind.choices)
    prompt = models.JSONField(help_text="Text, or chat messages [{role, content}].")
    context = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    gold = models.JSONField(null=True, blank=True, help_text="Expected answer: marks a quality-control item.")
    reference = models.JSONField(
        null=True, blank=True, help_text="A label that came with the data (e.g. HH-RLHF's chosen response)."
    )
    # Counters kept by the assignment services under the item's row lock.
    judgement_count = models.PositiveIntegerField(default=0)
    lease_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "external_id"], name="item_external_id_unique_in_batch"),
            models.CheckConstraint(condition=Q(kind__in=TaskKind.values), name="item_kind_valid"),
        ]
        indexes = [models.Index(fields=["batch", "judgement_count", "id"], name="item_serving")]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_chat(self) -> bool:
        return isinstance(self.prompt, list)


class Response(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="responses")
    response_id = models.CharField(max_length=100, help_text="Stable id from the import (e.g. 'a').")
    position = models.PositiveSmallIntegerField(help_text="Order in the import file, from 0.")
    text = models.TextField(blank=True)
    steps = models.JSONField(null=True, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["item_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["item", "response_id"], name="response_id_unique_in_item"),
            models.UniqueConstraint(fields=["item", "position"], name="response_position_unique_in_item"),
            models.CheckConstraint(condition=~Q(response_id=""), name="response_id_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}:{self.response_id}"
