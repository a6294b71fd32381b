import pytest

from rewardmodel.models import DatasetSnapshot
from rewardmodel.services.snapshots import ExportDefinition
from rewardmodel.tasks import build_snapshot
from tests.rewardmodel.factories import answer, judge

pytestmark = pytest.mark.django_db


def test_the_task_builds_once_and_redelivery_changes_nothing(export_project, two_items):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})
    snapshot = DatasetSnapshot.objects.create(
        export_format="trl-jsonl", definition=ExportDefinition(projects=(export_project.pk,)).as_dict()
    )

    build_snapshot.delay(snapshot.pk)
    first = DatasetSnapshot.objects.get()
    build_snapshot.delay(snapshot.pk)
    second = DatasetSnapshot.objects.get()

    assert (first.status, first.attempts) == ("done", 1)
    assert (second.finished_at, second.attempts, second.content_hash) == (
        first.finished_at,
        1,
        first.content_hash,
    )


def test_the_task_for_a_deleted_snapshot_just_returns(db):
    assert build_snapshot.delay(987_654).get() is None


def test_the_task_is_named_and_routed():
    assert build_snapshot.name == "rewardmodel.build_snapshot"
    assert build_snapshot.queue == "default"
