from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from labeling.models import Assignment, Item
from labeling.services.assignment import assignment_claim_next
from labeling.tasks import release_expired_leases
from tests.labeling.factories import comparison_line, import_lines

pytestmark = pytest.mark.django_db


def test_sweep_task_is_scheduled():
    entry = settings.CELERY_BEAT_SCHEDULE["release-expired-leases"]

    assert entry["task"] == release_expired_leases.name


def test_sweep_task_releases_expired_leases_and_is_safe_to_repeat(project, rater):
    import_lines(project, [comparison_line(1)])
    assignment_claim_next(project=project, rater=rater, now=timezone.now() - timedelta(days=1))

    first = release_expired_leases.delay().get()
    second = release_expired_leases.delay().get()

    assert (first, second) == (1, 0)
    assert Assignment.objects.get().status == "expired"
    assert Item.objects.get().lease_count == 0
