"""HH-RLHF in, HH-RLHF out: the exported chosen/rejected transcripts are the imported ones, exactly."""

import gzip
import io

import orjson
import pytest

from labeling.models import Item
from labeling.services.batch_import import batch_import
from tests.rewardmodel.factories import answer, export, judge

pytestmark = pytest.mark.django_db


def hh_lines(hh_file, limit: int | None = None) -> list[bytes]:  # type: ignore[no-untyped-def]
    with gzip.open(hh_file, "rb") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    return lines[:limit] if limit else lines


def import_hh(project, lines: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    batch_import(project=project, stream=io.BytesIO(b"\n".join(lines) + b"\n"), name="hh-rlhf")


def test_the_whole_shared_file_round_trips_through_reference_labels(export_project, ml_user, hh_file, train_rows):
    lines = hh_lines(hh_file)
    import_hh(export_project, lines)

    snapshot = export(ml_user, projects=(export_project.pk,), format="hh-rlhf", use_reference=True)

    assert len(lines) == 2312
    assert train_rows(snapshot) == [orjson.loads(line) for line in lines]
    assert snapshot.counts["label_sources"] == {"reference": 2312}


def test_judging_the_pairs_as_the_original_raters_did_round_trips(export_project, ml_user, hh_file, train_rows):
    lines = hh_lines(hh_file, limit=25)
    import_hh(export_project, lines)
    judge(export_project, "r1", {item.external_id: answer(item.reference["ranking"]) for item in Item.objects.all()})

    snapshot = export(ml_user, projects=(export_project.pk,), format="hh-rlhf")

    assert train_rows(snapshot) == [orjson.loads(line) for line in lines]
    assert snapshot.counts["label_sources"] == {"judgements": 25}
