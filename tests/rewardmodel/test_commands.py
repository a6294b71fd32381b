import io

import orjson
import pytest
from django.core.management import CommandError, call_command

from rewardmodel.models import DatasetSnapshot
from tests.rewardmodel.factories import answer, judge

pytestmark = pytest.mark.django_db


def run(*args) -> dict:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    call_command("export_preferences", *args, stdout=out, stderr=io.StringIO())
    return orjson.loads(out.getvalue())


@pytest.fixture
def judged(export_project, two_items):  # type: ignore[no-untyped-def]
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["b"], ["a"]], 1)})
    return export_project


def test_export_preferences_builds_a_snapshot_and_copies_the_files(judged, ml_user, tmp_path):
    summary = run(
        "--project",
        str(judged.pk),
        "--format",
        "hh-rlhf",
        "--test-fraction",
        "0",
        "--user",
        "mel-ml",
        "--out",
        str(tmp_path / "out"),
        "--license",
        "mit",
    )

    snapshot = DatasetSnapshot.objects.get()
    assert summary["id"] == snapshot.pk
    assert summary["rows"] == {"train": 2, "test": 0}
    assert summary["content_hash"] == snapshot.content_hash
    assert snapshot.created_by == ml_user
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["README.md", "train.jsonl"]


def test_export_preferences_passes_every_option_through(judged):
    run(
        "--project",
        str(judged.pk),
        "--exclude-gold",
        "--exclude-all-bad",
        "--exclude-flag",
        "harmful",
        "--min-rater-accuracy",
        "0.5",
        "--min-agreement",
        "0.6",
        "--aggregation",
        "majority",
        "--ties",
        "keep",
        "--use-reference",
        "--no-margin",
        "--seed",
        "9",
    )

    definition = DatasetSnapshot.objects.get().definition
    assert definition["exclude_gold"] and definition["exclude_all_bad"] and definition["use_reference"]
    assert (definition["exclude_flags"], definition["min_rater_gold_accuracy"], definition["min_item_agreement"]) == (
        ["harmful"],
        0.5,
        0.6,
    )
    assert (definition["aggregation"], definition["ties"], definition["margin"], definition["seed"]) == (
        "majority",
        "keep",
        "none",
        9,
    )


def test_export_preferences_reports_a_bad_definition(db):
    with pytest.raises(CommandError, match="choose at least one project"):
        run("--format", "parquet")


def test_export_preferences_refuses_a_user_without_the_ml_role(judged, rater):
    with pytest.raises(CommandError, match="No ML user"):
        run("--project", str(judged.pk), "--user", rater.username)
