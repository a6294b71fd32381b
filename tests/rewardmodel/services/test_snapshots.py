import stat
from unittest import mock

import pytest

from common.exceptions import ApplicationError
from labeling.models import Item
from rewardmodel.models import DatasetSnapshot
from rewardmodel.selectors import export_item_records, export_items, rater_gold_accuracy
from rewardmodel.services import snapshots
from rewardmodel.services.snapshots import ExportDefinition, snapshot_build, snapshot_create
from tests.labeling.factories import ProjectFactory, comparison_line, import_lines
from tests.rewardmodel.factories import AdjudicationFactory, answer, export, item_of, judge

pytestmark = pytest.mark.django_db

HH_LINE = {"chosen": "\n\nHuman: Hi?\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi?\n\nAssistant: Go away."}


def pairs(rows: list[dict]) -> list[tuple]:
    return [(row["prompt"], row["chosen"], row["rejected"], round(row["margin"], 4)) for row in rows]


# Aggregation ------------------------------------------------------------------------------------------


def test_every_judgement_is_its_own_row_with_margin_from_strength(export_project, two_items, ml_user, train_rows):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]], 2), "q-2": answer([["b"], ["a"]], 1)})
    judge(export_project, "r2", {"q-1": answer([["b"], ["a"]], 3)})

    snapshot = export(ml_user, projects=(export_project.pk,))

    rows = train_rows(snapshot)
    assert pairs(rows) == [
        ("Question 1?", "Answer 0 to 1", "Answer 1 to 1", 0.6667),
        ("Question 1?", "Answer 1 to 1", "Answer 0 to 1", 1.0),
        ("Question 2?", "Answer 1 to 2", "Answer 0 to 2", 0.3333),
    ]
    assert [row["group"] for row in rows] == [item_of(export_project, "q-1").pk] * 2 + [
        item_of(export_project, "q-2").pk
    ]
    assert list(rows[0]) == ["prompt", "chosen", "rejected", "margin", "group"]
    assert snapshot.counts["rows"] == {"train": 3, "test": 0}
    assert snapshot.counts["judgements_used"] == 3


def test_k_way_ranking_expands_to_all_ordered_pairs_in_one_group(export_project, ml_user, train_rows):
    import_lines(export_project, [comparison_line(1, n_responses=3)])
    judge(export_project, "r1", {"q-1": answer([["b"], ["a"], ["c"]], 2)})

    rows = train_rows(export(ml_user, projects=(export_project.pk,)))

    assert [(row["chosen"][7], row["rejected"][7]) for row in rows] == [("1", "0"), ("1", "2"), ("0", "2")]
    assert {row["group"] for row in rows} == {item_of(export_project, "q-1").pk}
    assert {row["margin"] for row in rows} == {2 / 3}


def test_majority_per_pair_with_ties_dropped_or_kept(export_project, two_items, ml_user, train_rows):
    judge(export_project, "r1", {"q-1": answer([["b"], ["a"]], 3), "q-2": answer([["a"], ["b"]])})
    judge(export_project, "r2", {"q-1": answer([["b"], ["a"]], 1), "q-2": answer([["b"], ["a"]])})
    judge(export_project, "r3", {"q-1": answer([["a"], ["b"]], 3)})

    dropped = export(ml_user, projects=(export_project.pk,), aggregation="majority")
    kept = export(ml_user, projects=(export_project.pk,), aggregation="majority", ties="keep")

    assert pairs(train_rows(dropped)) == [("Question 1?", "Answer 1 to 1", "Answer 0 to 1", 0.6667)]
    assert pairs(train_rows(kept)) == [
        ("Question 1?", "Answer 1 to 1", "Answer 0 to 1", 0.6667),
        ("Question 2?", "Answer 0 to 2", "Answer 1 to 2", 0.0),
    ]
    assert dropped.counts["excluded_items"] == {"no_pairs": 1}
    assert kept.stats["tie_rows"] == 1


def test_a_judged_tie_is_dropped_or_kept_with_margin_zero(export_project, two_items, ml_user, train_rows):
    judge(export_project, "r1", {"q-1": answer([["a", "b"]], 0)})

    dropped = export(ml_user, projects=(export_project.pk,))
    kept = export(ml_user, projects=(export_project.pk,), ties="keep")

    assert train_rows(dropped) == []
    assert pairs(train_rows(kept)) == [("Question 1?", "Answer 0 to 1", "Answer 1 to 1", 0.0)]


def test_adjudication_takes_precedence_over_judgements(export_project, two_items, ml_user, admin_user, train_rows):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]], 3)})
    judge(export_project, "r2", {"q-1": answer([["a"], ["b"]], 3)})
    AdjudicationFactory(item=item_of(export_project, "q-1"), ranking=[["b"], ["a"]], strength=1, adjudicator=admin_user)

    snapshot = export(ml_user, projects=(export_project.pk,), aggregation="majority")

    assert pairs(train_rows(snapshot)) == [("Question 1?", "Answer 1 to 1", "Answer 0 to 1", 0.3333)]
    assert snapshot.counts["label_sources"] == {"adjudication": 1}


def test_reference_labels_are_used_only_when_asked_and_win_over_judgements(export_project, ml_user, train_rows):
    import_lines(export_project, [HH_LINE])
    item = Item.objects.get()
    judge(export_project, "r1", {item.external_id: answer(item.reference["ranking"][::-1], 3)})

    with_reference = export(ml_user, projects=(export_project.pk,), use_reference=True)
    without = export(ml_user, projects=(export_project.pk,))

    assert [(row["chosen"], row["rejected"], row["margin"]) for row in train_rows(with_reference)] == [
        ([{"role": "assistant", "content": "Hello!"}], [{"role": "assistant", "content": "Go away."}], 0.0)
    ]
    assert train_rows(without)[0]["chosen"] == [{"role": "assistant", "content": "Go away."}]
    assert with_reference.counts["label_sources"] == {"reference": 1}


# Filters ----------------------------------------------------------------------------------------------


def test_exclude_gold_items(export_project, ml_user, train_rows):
    import_lines(export_project, [comparison_line(1), comparison_line(2, gold={"ranking": [["a"], ["b"]]})])
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["a"], ["b"]])})

    kept = export(ml_user, projects=(export_project.pk,))
    excluded = export(ml_user, projects=(export_project.pk,), exclude_gold=True)

    assert [row["prompt"] for row in train_rows(kept)] == ["Question 1?", "Question 2?"]
    assert [row["prompt"] for row in train_rows(excluded)] == ["Question 1?"]
    assert excluded.counts["excluded_items"] == {"gold": 1}


def test_exclude_items_any_judgement_marked_all_bad(export_project, two_items, ml_user, train_rows):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["a"], ["b"]])})
    judge(export_project, "r2", {"q-1": answer([["a"], ["b"]], all_bad=True)})

    kept = export(ml_user, projects=(export_project.pk,))
    excluded = export(ml_user, projects=(export_project.pk,), exclude_all_bad=True)

    assert len(train_rows(kept)) == 3
    assert [row["prompt"] for row in train_rows(excluded)] == ["Question 2?"]
    assert excluded.counts["excluded_items"] == {"all_bad": 1}


def test_exclude_items_tagged_with_chosen_flags_only(export_project, two_items, ml_user, train_rows):
    judge(
        export_project,
        "r1",
        {
            "q-1": answer([["a"], ["b"]], flags={"b": ["harmful"]}),
            "q-2": answer([["a"], ["b"]], flags={"a": ["hallucination"]}),
        },
    )

    snapshot = export(ml_user, projects=(export_project.pk,), exclude_flags=("harmful", "fails instruction"))

    assert [row["prompt"] for row in train_rows(snapshot)] == ["Question 2?"]
    assert snapshot.counts["excluded_items"] == {"flags": 1}


def test_min_rater_gold_accuracy_ignores_inaccurate_raters(export_project, ml_user, train_rows):
    import_lines(export_project, [comparison_line(1), comparison_line(9, gold={"ranking": [["a"], ["b"]]})])
    good = judge(export_project, "good", {"q-9": answer([["a"], ["b"]]), "q-1": answer([["a"], ["b"]], 1)})
    bad = judge(export_project, "bad", {"q-9": answer([["b"], ["a"]]), "q-1": answer([["b"], ["a"]], 1)})
    judge(export_project, "no-gold", {"q-1": answer([["b"], ["a"]], 1)})

    snapshot = export(ml_user, projects=(export_project.pk,), exclude_gold=True, min_rater_gold_accuracy=0.5)

    accuracy = rater_gold_accuracy(project_ids=[export_project.pk])
    assert (accuracy[good.pk].accuracy, accuracy[bad.pk].accuracy) == (1.0, 0.0)
    assert pairs(train_rows(snapshot)) == [("Question 1?", "Answer 0 to 1", "Answer 1 to 1", 0.3333)]
    assert snapshot.counts["judgements_ignored_low_accuracy"] == 2
    assert snapshot.counts["raters_below_accuracy"] == 1


def test_min_item_agreement_drops_disputed_and_single_judged_items(export_project, ml_user, train_rows):
    import_lines(export_project, [comparison_line(i) for i in (1, 2, 3)])
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["a"], ["b"]])})
    judge(export_project, "r2", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["b"], ["a"]])})
    judge(export_project, "r3", {"q-3": answer([["a"], ["b"]])})

    snapshot = export(ml_user, projects=(export_project.pk,), min_item_agreement=0.75)

    assert [row["prompt"] for row in train_rows(snapshot)] == ["Question 1?", "Question 1?"]
    assert snapshot.counts["excluded_items"] == {"agreement": 2}
    assert snapshot.stats["agreement"]["items"] == 2
    assert snapshot.stats["agreement"]["mean"] == 0.5


def test_margins_can_be_turned_off(export_project, two_items, ml_user, train_rows):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]], 3)})

    snapshot = export(ml_user, projects=(export_project.pk,), margin="none")

    assert [row["margin"] for row in train_rows(snapshot)] == [0.0]


def test_batches_narrow_the_selection(export_project, ml_user, train_rows):
    import_lines(export_project, [comparison_line(1)], name="first")
    second = import_lines(export_project, [comparison_line(2)], name="second")
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["a"], ["b"]])})

    snapshot = export(ml_user, batches=(second.pk,))

    assert [row["prompt"] for row in train_rows(snapshot)] == ["Question 2?"]
    assert snapshot.definition["projects"] == [export_project.pk]


# Prompts ----------------------------------------------------------------------------------------------


def test_chat_prompts_make_the_whole_export_conversational(export_project, ml_user, train_rows):
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    import_lines(export_project, [comparison_line(1), comparison_line(2, prompt=chat)])
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["b"], ["a"]])})

    rows = train_rows(export(ml_user, projects=(export_project.pk,)))

    assert rows[0]["prompt"] == [{"role": "user", "content": "Question 1?"}]
    assert rows[1]["prompt"] == chat
    assert rows[1]["chosen"] == [{"role": "assistant", "content": "Answer 1 to 2"}]


def test_context_goes_before_the_prompt(export_project, ml_user, train_rows):
    import_lines(export_project, [comparison_line(1, context="A long document.")])
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})

    rows = train_rows(export(ml_user, projects=(export_project.pk,)))

    assert rows[0]["prompt"] == "A long document.\n\nQuestion 1?"


# Split and hash ---------------------------------------------------------------------------------------


@pytest.fixture
def many_judged(export_project):  # type: ignore[no-untyped-def]
    """60 items; batch "again" repeats the prompts of the first 30 with other ids."""
    import_lines(export_project, [comparison_line(i) for i in range(30)], name="first")
    import_lines(export_project, [comparison_line(100 + i, prompt=f"Question {i}?") for i in range(30)], name="again")
    answers = {f"q-{i}": answer([["a"], ["b"]], 1 + i % 3) for i in [*range(30), *range(100, 130)]}
    judge(export_project, "r1", answers)
    return export_project


def test_split_is_by_prompt_with_no_prompt_in_both(many_judged, ml_user, read_split):
    snapshot = export(ml_user, projects=(many_judged.pk,), test_fraction=0.3, seed=7)

    train, test = read_split(snapshot, "train"), read_split(snapshot, "test")
    train_prompts = {row["prompt"] for row in train}
    test_prompts = {row["prompt"] for row in test}
    assert train_prompts and test_prompts
    assert not train_prompts & test_prompts
    assert len(train) + len(test) == 60
    assert snapshot.counts["items"] == {"train": len(train), "test": len(test)}


def test_the_seed_changes_the_split(many_judged, ml_user, read_split):
    first = export(ml_user, projects=(many_judged.pk,), test_fraction=0.3, seed=1)
    second = export(ml_user, projects=(many_judged.pk,), test_fraction=0.3, seed=2)

    assert read_split(first, "test") != read_split(second, "test")
    assert first.content_hash != second.content_hash


def test_same_definition_on_same_data_gives_the_same_hash(many_judged, ml_user):
    first = export(ml_user, projects=(many_judged.pk,), test_fraction=0.2)
    second = export(ml_user, projects=(many_judged.pk,), test_fraction=0.2)
    parquet = export(ml_user, projects=(many_judged.pk,), test_fraction=0.2, format="parquet")

    assert first.pk != second.pk
    assert first.content_hash == second.content_hash == parquet.content_hash
    assert (first.directory / "train.jsonl").read_bytes() == (second.directory / "train.jsonl").read_bytes()


def test_new_data_changes_the_hash(export_project, two_items, ml_user):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})
    before = export(ml_user, projects=(export_project.pk,))

    judge(export_project, "r2", {"q-2": answer([["a"], ["b"]])})
    after = export(ml_user, projects=(export_project.pk,))

    assert before.content_hash != after.content_hash


# The snapshot's life ----------------------------------------------------------------------------------


def test_snapshot_records_definition_counts_creator_and_card(export_project, two_items, ml_user):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})

    snapshot = export(ml_user, projects=(export_project.pk,), license="cc-by-4.0", exclude_flags=("harmful",))

    assert snapshot.status == "done"
    assert snapshot.created_by == ml_user
    assert snapshot.definition == {
        **ExportDefinition().as_dict(),
        "projects": [export_project.pk],
        "license": "cc-by-4.0",
        "exclude_flags": ["harmful"],
        "test_fraction": 0.0,
    }
    assert [f["name"] for f in snapshot.files] == ["train.jsonl", "README.md"]
    card = (snapshot.directory / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0\n")
    for expected in (snapshot.content_hash, "## Agreement", "## Label distribution", '"exclude_flags": [', "margin"):
        assert expected in card


def test_a_done_snapshot_is_immutable(export_project, two_items, ml_user):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})
    snapshot = export(ml_user, projects=(export_project.pk,))
    judge(export_project, "r2", {"q-2": answer([["a"], ["b"]])})

    again = snapshot_build(snapshot=snapshot)

    assert again.content_hash == snapshot.content_hash
    assert again.attempts == 1
    assert all(not (snapshot.directory / f["name"]).stat().st_mode & stat.S_IWUSR for f in snapshot.files)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"projects": (999_999,)}, "projects"),
        ({"projects": ()}, "projects"),
        ({"format": "csv"}, "format"),
        ({"license": "MIT License; rm -rf"}, "license"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"aggregation": "mean"}, "aggregation"),
        ({"min_item_agreement": 1.5}, "min_item_agreement"),
    ],
)
def test_invalid_definitions_name_the_field_and_store_nothing(export_project, ml_user, overrides, field):
    definition = ExportDefinition(**{"projects": (export_project.pk,), **overrides})

    with pytest.raises(ApplicationError) as caught:
        snapshot_create(definition=definition, created_by=ml_user)

    assert caught.value.errors[0]["field"] == field
    assert DatasetSnapshot.objects.count() == 0


def test_projects_of_others_and_other_task_kinds_are_refused(export_project, ml_user, admin_user):
    foreign = ProjectFactory(members=[admin_user])
    critiques = ProjectFactory(members=[ml_user], task_kind="critique")

    with pytest.raises(ApplicationError, match=f"no project with id {foreign.pk}"):
        snapshot_create(definition=ExportDefinition(projects=(foreign.pk,)), created_by=ml_user)
    with pytest.raises(ApplicationError) as caught:
        snapshot_create(definition=ExportDefinition(projects=(critiques.pk,)), created_by=ml_user)

    assert caught.value.errors[0]["field"] == "format"


def test_a_batch_outside_the_chosen_projects_is_refused(export_project, ml_user):
    other = ProjectFactory(members=[ml_user])
    batch = import_lines(other, [comparison_line(1)])

    with pytest.raises(ApplicationError) as caught:
        snapshot_create(
            definition=ExportDefinition(projects=(export_project.pk,), batches=(batch.pk,)), created_by=ml_user
        )

    assert caught.value.errors[0]["field"] == "batches"


def test_large_exports_are_queued_after_commit_and_built_by_the_task(
    export_project, two_items, ml_user, django_capture_on_commit_callbacks
):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})

    with mock.patch.object(snapshots, "INLINE_MAX_JUDGEMENTS", 0), django_capture_on_commit_callbacks() as queued:
        snapshot = snapshot_create(definition=ExportDefinition(projects=(export_project.pk,)), created_by=ml_user)
    assert (snapshot.status, len(queued)) == ("queued", 1)

    queued[0]()

    snapshot.refresh_from_db()
    assert snapshot.status == "done"
    assert snapshot.total_rows == 1


def test_a_failed_build_is_recorded_leaves_no_files_and_can_be_retried(export_project, two_items, ml_user, media_root):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})
    definition = ExportDefinition(projects=(export_project.pk,))
    with mock.patch.object(snapshots, "_export", side_effect=OSError("disk full")), pytest.raises(OSError):
        snapshot_create(definition=definition, created_by=ml_user, run_inline=True)
    snapshot = DatasetSnapshot.objects.get()
    assert (snapshot.status, snapshot.error) == ("failed", "disk full")
    assert list((media_root / "exports").iterdir()) == []

    snapshot = snapshot_build(snapshot=snapshot)

    assert (snapshot.status, snapshot.attempts, snapshot.total_rows) == ("done", 2, 1)


def test_leftovers_of_a_killed_build_are_removed_on_the_next_attempt(export_project, two_items, ml_user, media_root):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})
    snapshot = DatasetSnapshot.objects.create(
        export_format="trl-jsonl",
        definition=ExportDefinition(projects=(export_project.pk,)).as_dict(),
        status="running",
    )
    stale = media_root / "exports" / f".{snapshot.pk}-deadbeef.partial"
    stale.mkdir(parents=True)
    (stale / "train.jsonl").write_text('{"half": ')

    snapshot = snapshot_build(snapshot=snapshot)

    assert snapshot.status == "done"
    assert sorted(p.name for p in (media_root / "exports").iterdir()) == [str(snapshot.pk)]


def test_progress_is_reported_while_rows_stream(many_judged, ml_user):
    snapshot = DatasetSnapshot.objects.create(
        export_format="trl-jsonl", definition=ExportDefinition(projects=(many_judged.pk,)).as_dict()
    )
    reported: list[int] = []

    with mock.patch.object(snapshots, "PROGRESS_ROWS", 10):
        snapshot_build(snapshot=snapshot, on_progress=reported.append)

    assert reported == sorted(reported)
    assert len(reported) >= 5


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 1000])
def test_chunk_boundaries_do_not_change_the_stream(export_project, ml_user, chunk_size):
    import_lines(export_project, [comparison_line(i, n_responses=2 + i % 3) for i in range(7)])
    rankings = {f"q-{i}": answer([[chr(97 + r)] for r in range(2 + i % 3)]) for i in range(7) if i != 3}
    judge(export_project, "r1", rankings)
    judge(export_project, "r2", {key: value for key, value in rankings.items() if key in ("q-0", "q-5", "q-6")})
    items = export_items(
        batch_ids=[b.pk for b in export_project.batches.all()], exclude_gold=False, with_reference=False
    )

    streamed = list(export_item_records(items=items, chunk_size=chunk_size))

    expected = list(export_item_records(items=items, chunk_size=10_000))
    assert streamed == expected
    assert [len(r.responses) for r in streamed] == [2, 3, 4, 3, 4, 2]
    assert [len(r.judgements) for r in streamed] == [2, 1, 1, 1, 2, 2]


@pytest.mark.django_db(transaction=True)
def test_progress_is_committed_where_the_api_can_see_it_while_the_export_runs(export_project, ml_user):
    import_lines(export_project, [comparison_line(i) for i in range(5)])
    judge(export_project, "r1", {f"q-{i}": answer([["a"], ["b"]]) for i in range(5)})
    snapshot = DatasetSnapshot.objects.create(
        export_format="trl-jsonl", definition=ExportDefinition(projects=(export_project.pk,)).as_dict()
    )
    seen: list[tuple] = []
    record = snapshots._ProgressWriter.__call__

    def record_and_look(writer, rows):  # type: ignore[no-untyped-def]
        record(writer, rows)
        with writer._connection.cursor() as cursor:  # another connection than the export's
            cursor.execute("SELECT status, progress_rows FROM rewardmodel_datasetsnapshot WHERE id = %s", [snapshot.pk])
            seen.append(cursor.fetchone())

    with (
        mock.patch.object(snapshots, "PROGRESS_ROWS", 2),
        mock.patch.object(snapshots, "PROGRESS_EVERY_S", 0.0),
        mock.patch.object(snapshots._ProgressWriter, "__call__", record_and_look),
    ):
        snapshot_build(snapshot=snapshot)

    assert seen[0] == ("running", 2)
    assert DatasetSnapshot.objects.get().progress_rows == 5
