"""The assignment engine: who judges which item next.

Rules (one service for the page and the API):
- a rater gets the next item of a live batch of the project, highest batch priority first (batches of
  equal priority in creation order), then the item with the fewest judgements (breadth-first), then the
  oldest;
- never an item they already judged, skipped or hold, and never beyond the project's overlap:
  judgement_count + lease_count < overlap, both counters living on the item row;
- a claim is a lease with an expiry. A rater who comes back gets their own unexpired lease again;
  expired leases go back to the pool (released here at claim time, and by a periodic Celery task).

Locks, always taken in this order so that no two paths wait on each other in a cycle:
  1. the rater's ProjectMembership row (FOR UPDATE): one claim at a time per rater and project;
  2. the candidate Item row (FOR UPDATE SKIP LOCKED): concurrent claimers pass over each other's items;
     PostgreSQL re-checks the counters on the locked row, so overlap holds under concurrency. Only when
     every free item is locked by other claimers does it wait (FOR UPDATE) for one;
  3. the rater's own Assignment row, only when re-activating an expired lease of theirs.
Rows PostgreSQL locks and then passes over (their counters changed while it waited) stay locked until
commit, so two waiting claimers can deadlock; PostgreSQL aborts one and the claim is simply retried.
The cost of a claim does not grow with the project: it walks the `item_serving` index
(batch, judgement_count, id) of one batch and stops at the first free item; no COUNT over the project.
"""

import logging
import random
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.shortcuts import get_object_or_404
from django.utils import timezone

from common.db import retry_on_deadlock
from common.exceptions import ApplicationError
from labeling.models import Assignment, AssistanceMode, Batch, Item, Project, ProjectMembership, RaterQuality

logger = logging.getLogger(__name__)

# Current task + one preloaded + one spare: a rater never holds more leases than this in a project.
MAX_ACTIVE_LEASES = 3
RELEASE_CHUNK = 500


def assignment_claim_next(
    *, project: Project, rater: AbstractBaseUser, holding: list[int] | None = None, now: datetime | None = None
) -> Assignment | None:
    """Return the rater's next assignment in `project`, or None when nothing is left for them.

    `holding` lists assignment ids the client already shows (the current task when preloading the next):
    those are not returned again. Takes the locks described in the module docstring.
    """
    now = now or timezone.now()
    holding = list(holding or [])
    return retry_on_deadlock(lambda: _claim(project=project, rater=rater, holding=holding, now=now))


def _claim(*, project: Project, rater: AbstractBaseUser, holding: list[int], now: datetime) -> Assignment | None:
    with transaction.atomic():
        membership = get_object_or_404(
            ProjectMembership.objects.select_for_update(of=("self",)).annotate(
                suspended=Exists(RaterQuality.objects.filter(project=project, rater=rater, suspended=True))
            ),
            project=project,
            user=rater,
        )
        own = list(
            Assignment.objects.filter(
                project=project, rater=rater, status=Assignment.Status.ACTIVE, expires_at__gt=now
            ).order_by("created_at", "id")
        )
        reusable = [assignment for assignment in own if assignment.pk not in holding]
        if reusable:
            return reusable[0]
        if len(own) >= MAX_ACTIVE_LEASES:
            raise ApplicationError(
                "You already hold the most tasks at once; submit or skip one first.",
                code="too_many_leases",
                status_code=409,
            )
        if membership.suspended:
            raise ApplicationError(
                "Your gold accuracy in this project fell below its threshold, so new tasks are paused. "
                "An admin has been notified and can reinstate you.",
                code="suspended",
                status_code=403,
            )
        item = _lock_next_item(project=project, rater=rater)
        if item is None and _release_expired(project_id=project.pk, now=now):
            item = _lock_next_item(project=project, rater=rater)  # expired leases gave items back
        if item is None:
            return None
        Item.objects.filter(pk=item.pk).update(lease_count=F("lease_count") + 1)
        return _lease(project=project, item=item, rater=rater, now=now)


def _lock_next_item(*, project: Project, rater: AbstractBaseUser) -> Item | None:
    """Lock the next item. With probability `gold_rate` a gold item the rater has not seen comes first
    (gold items go to every rater, outside the overlap, and look like any other task). Otherwise the
    first free non-gold item: SKIP LOCKED first, so concurrent claimers spread out; if every free item
    is locked by someone else right now, wait for one instead of reporting "nothing left" (PostgreSQL
    re-checks the counters of the row once its lock is released). When no other item is left, the
    rater's unseen gold items are served."""
    seen = Assignment.objects.filter(
        item=OuterRef("pk"),
        rater=rater,
        status__in=[Assignment.Status.ACTIVE, Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED],
    )
    batch_ids = list(
        Batch.objects.filter(project=project, status=Batch.Status.LIVE)
        .order_by("-priority", "id")
        .values_list("id", flat=True)
    )

    def unseen_gold() -> Item | None:
        # Per batch, so the query matches the small `item_gold` partial index whatever the statistics.
        for batch_id in batch_ids:
            gold = (
                Item.objects.filter(batch_id=batch_id, gold__isnull=False)
                .filter(~Exists(seen))
                .order_by("id")
                .select_for_update(skip_locked=True, of=("self",))
                .only("id", "batch_id")
                .first()
            )
            if gold is not None:
                return gold
        return None

    if project.gold_rate > 0 and random.random() < project.gold_rate:
        gold = unseen_gold()
        if gold is not None:
            return gold
    for skip_locked in (True, False):
        for batch_id in batch_ids:
            item = (
                Item.objects.filter(batch_id=batch_id, gold__isnull=True)
                .alias(filled=F("judgement_count") + F("lease_count"))
                .filter(filled__lt=project.overlap)
                .filter(~Exists(seen))
                .order_by("judgement_count", "id")
                .select_for_update(skip_locked=skip_locked, of=("self",))
                .only("id", "batch_id")
                .first()
            )
            if item is not None:
                return item
    # Nothing else left: the gold items this rater has not seen yet.
    return unseen_gold()


def _lease(*, project: Project, item: Item, rater: AbstractBaseUser, now: datetime) -> Assignment:
    response_ids = list(item.responses.order_by("position").values_list("response_id", flat=True))
    display_order = random.sample(response_ids, len(response_ids))
    if project.assistance_mode == AssistanceMode.RANDOMISED:
        assistance_shown = random.random() < 0.5
    else:
        assistance_shown = project.assistance_mode == AssistanceMode.ON
    fields = {
        "project": project,
        "status": Assignment.Status.ACTIVE,
        "created_at": now,
        "expires_at": now + timedelta(seconds=project.lease_seconds),
        "completed_at": None,
        "display_order": display_order,
        "assistance_shown": assistance_shown,
        "assists_shown": [],
        "skip_reason": "",
    }
    # One statement (INSERT ... ON CONFLICT DO UPDATE): the rater's own expired lease on this item, if
    # any, is taken up again, since there is one row per item and rater.
    [assignment] = Assignment.objects.bulk_create(
        [Assignment(item=item, rater=rater, **fields)],
        update_conflicts=True,
        unique_fields=["item", "rater"],
        update_fields=[name for name in fields if name != "project"],
    )
    return assignment


def _release_expired(*, project_id: int | None, now: datetime) -> int:
    """Mark expired active leases as expired and give their items back to the pool.

    Locks the expired Assignment rows (SKIP LOCKED: a lease being submitted right now is left alone),
    then updates their items' counters. Bounded per call.
    """
    expired = Assignment.objects.filter(status=Assignment.Status.ACTIVE, expires_at__lte=now)
    if project_id is not None:
        expired = expired.filter(project_id=project_id)
    rows = list(expired.order_by("id").select_for_update(skip_locked=True).values_list("id", "item_id")[:RELEASE_CHUNK])
    if not rows:
        return 0
    Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(status=Assignment.Status.EXPIRED)
    per_item: dict[int, int] = {}
    for _, item_id in rows:
        per_item[item_id] = per_item.get(item_id, 0) + 1
    for item_id in sorted(per_item):
        Item.objects.filter(pk=item_id).update(lease_count=F("lease_count") - per_item[item_id])
    logger.info("leases released", extra={"project_id": project_id, "count": len(rows)})
    return len(rows)


def assignments_release_expired(*, now: datetime | None = None) -> int:
    """Sweep every project's expired leases (the periodic task), in bounded transactions."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            released = _release_expired(project_id=None, now=now)
        total += released
        if released < RELEASE_CHUNK:
            return total


@transaction.atomic
def assignment_skip(*, assignment: Assignment, reason: str) -> Assignment:
    """Give the item back to the pool and never show it to this rater again. Skipping twice is harmless."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why you skip.", code="reason_required", errors=[{"field": "reason", "message": "required"}]
        )
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if assignment.status == Assignment.Status.SKIPPED:
        return assignment
    if assignment.status != Assignment.Status.ACTIVE:
        raise ApplicationError(
            f"This assignment is {assignment.status}; it cannot be skipped.", code="not_active", status_code=409
        )
    assignment.status = Assignment.Status.SKIPPED
    assignment.skip_reason = reason[:500]
    assignment.completed_at = timezone.now()
    assignment.save(update_fields=["status", "skip_reason", "completed_at"])
    Item.objects.filter(pk=assignment.item_id).update(lease_count=F("lease_count") - 1)
    return assignment


def assignment_record_assists(*, assignment: Assignment, artifact_ids: list[int]) -> None:
    """Record which AI artifacts the rater is shown with this assignment (kept with the judgement)."""
    if assignment.assists_shown != artifact_ids:
        assignment.assists_shown = artifact_ids
        Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.ACTIVE).update(assists_shown=artifact_ids)
