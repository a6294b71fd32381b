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
    stop_at_first_error = models.BooleanField(
        default=True, help_text="Step tasks: labelling stops at the first step marked -1 (PRM800K)."
    )
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Distinct raters per item.")
    lease_seconds = models.PositiveIntegerField(default=1800, help_text="How long an assignment is held.")
    assistance_mode = models.CharField(max_length=20, choices=AssistanceMode.choices, default=AssistanceMode.ON)
    gold_rate = models.FloatField(default=0.1, help_text="Share of tasks drawn from gold items (0-1).")
    gold_min_accuracy = models.FloatField(
        default=0.6, help_text="Raters below this gold accuracy stop receiving tasks (0 disables)."
    )
    gold_min_judged = models.PositiveSmallIntegerField(
        default=5, help_text="Gold judgements a rater makes before the threshold applies."
    )
    assist_backend = models.CharField(
        max_length=100, blank=True, help_text="Assistant backend name from OVERSIGHT_ASSIST_BACKENDS (blank: default)."
    )
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
            models.CheckConstraint(condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_range"),
            models.CheckConstraint(
                condition=Q(gold_min_accuracy__gte=0) & Q(gold_min_accuracy__lte=1), name="project_gold_accuracy_range"
            ),
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
        ARCHIVED = "archived", "Archived"

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
    # No separate index on batch: the unique and serving indexes below start with it.
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items", db_index=False)
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
        indexes = [
            models.Index(fields=["batch", "judgement_count", "id"], name="item_serving"),
            models.Index(fields=["batch", "id"], condition=Q(gold__isnull=False), name="item_gold"),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_chat(self) -> bool:
        return isinstance(self.prompt, list)


class Response(models.Model):
    # No separate index on item: the unique constraints below start with it.
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="responses", db_index=False)
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


class Assignment(models.Model):
    """A rater's lease on an item. At most one per (item, rater): an item never comes back to a rater
    who judged or skipped it; an expired lease may be taken up again by the same rater."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    display_order = models.JSONField(help_text="Response ids in the order this rater was shown them.")
    assistance_shown = models.BooleanField(default=True, help_text="The assistance arm of this assignment.")
    assists_shown = models.JSONField(default=list, blank=True, help_text="Ids of the AI artifacts shown.")
    skip_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "rater"], name="assignment_one_per_item_and_rater"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "submitted", "skipped", "expired"]), name="assignment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="assignment_expiry_after_start"
            ),
        ]
        indexes = [
            models.Index(fields=["rater", "project", "status"], name="assignment_rater_status"),
            models.Index(
                fields=["project", "expires_at"], condition=Q(status="active"), name="assignment_active_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rater_id} on {self.item_id} ({self.status})"


class Judgement(models.Model):
    """A rater's answer to one assignment. One per assignment, which makes submit idempotent."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="judgement")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judgements")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgements")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgements")
    # comparison
    ranking = models.JSONField(
        null=True, blank=True, help_text="Tiers of response ids, best first; a tier of several is a tie."
    )
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    all_bad = models.BooleanField(default=False)
    flags = models.JSONField(default=dict, blank=True, help_text="{response id: [flag, ...]}")
    # critique
    flaws = models.JSONField(
        default=list,
        blank=True,
        help_text="[{description, severity, start?, end?, quote?}] (offsets into the response)",
    )
    no_flaws = models.BooleanField(default=False)
    quality = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Overall quality 1-7.")
    critique_ratings = models.JSONField(
        default=dict, blank=True, help_text="{artifact id: {valid: bool, helpfulness: 1-7}} for AI critiques shown"
    )
    # steps
    step_labels = models.JSONField(null=True, blank=True, help_text="-1 / 0 / +1 per step, in order (PRM800K).")
    finish_reason = models.CharField(max_length=20, blank=True)
    # all kinds
    rationale = models.TextField(blank=True)
    assist_ratings = models.JSONField(default=dict, blank=True, help_text="{artifact id: helpfulness 1-7}")
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    display_order = models.JSONField()
    assistance_shown = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "rater"], name="judgement_one_per_item_and_rater"),
            models.CheckConstraint(
                condition=Q(finish_reason__in=["", "found_error", "solution", "bad_problem", "give_up"]),
                name="judgement_finish_reason_valid",
            ),
            models.CheckConstraint(
                condition=Q(quality__isnull=True) | Q(quality__gte=1, quality__lte=7), name="judgement_quality_range"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "rater", "created_at"], name="judgement_rater_time"),
            models.Index(fields=["project", "created_at"], name="judgement_project_time"),
        ]

    def __str__(self) -> str:
        return f"judgement {self.pk} by {self.rater_id} on {self.item_id}"


class Adjudication(models.Model):
    """An admin's final label for an item; exports prefer it over the raters' judgements."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="adjudication")
    adjudicator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    ranking = models.JSONField(help_text="Tiers of response ids, best first.")
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"adjudication of {self.item_id}"


class RaterQuality(models.Model):
    """A rater's running gold score in a project, kept by the submit service; below the project's
    threshold the rater is suspended (no new tasks) until an admin reinstates them."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rater_qualities")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qualities")
    gold_judged = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    suspended = models.BooleanField(default=False)
    suspended_at = models.DateTimeField(null=True, blank=True)
    reinstated_at = models.DateTimeField(null=True, blank=True)
    reinstated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "rater"], name="rater_quality_unique"),
            models.CheckConstraint(condition=Q(gold_correct__lte=models.F("gold_judged")), name="rater_quality_counts"),
        ]

    def __str__(self) -> str:
        return f"{self.rater_id} in {self.project_id}: {self.gold_correct}/{self.gold_judged}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_judged if self.gold_judged else None


class ProjectStats(models.Model):
    """Quality figures of a project, computed by a Celery task after new judgements (dashboards read
    this row instead of scanning judgements per request)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="stats")
    computed_at = models.DateTimeField()
    judgement_count = models.PositiveIntegerField(default=0)
    data = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"stats of {self.project_id} at {self.computed_at}"
