import pytest

from rewardmodel.selectors import item_agreement_many, rater_gold_accuracy, snapshot_list_for_user
from tests.labeling.factories import UserFactory, comparison_line, import_lines
from tests.rewardmodel.factories import answer, export, item_of, judge

pytestmark = pytest.mark.django_db


def test_item_agreement_many_reads_each_items_judgements(export_project):
    import_lines(export_project, [comparison_line(i) for i in (1, 2, 3)])
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["a"], ["b"]])})
    judge(export_project, "r2", {"q-1": answer([["a"], ["b"]]), "q-2": answer([["b"], ["a"]])})
    judge(export_project, "r3", {"q-1": answer([["b"], ["a"]])})
    ids = [item_of(export_project, f"q-{i}").pk for i in (1, 2, 3)]

    agreement = item_agreement_many(item_ids=ids)

    assert agreement == {ids[0]: pytest.approx(1 / 3), ids[1]: 0.0, ids[2]: None}


def test_rater_gold_accuracy_counts_only_gold_items(export_project):
    import_lines(
        export_project,
        [comparison_line(1), *(comparison_line(10 + i, gold={"ranking": [["a"], ["b"]]}) for i in range(4))],
    )
    rater = judge(
        export_project,
        "r1",
        {
            "q-1": answer([["b"], ["a"]]),
            "q-10": answer([["a"], ["b"]]),
            "q-11": answer([["a"], ["b"]]),
            "q-12": answer([["a"], ["b"]]),
            "q-13": answer([["b"], ["a"]]),
        },
    )

    accuracy = rater_gold_accuracy(project_ids=[export_project.pk])[rater.pk]

    assert (accuracy.correct, accuracy.total, accuracy.accuracy) == (3, 4, 0.75)


def test_snapshots_are_private_to_their_creator_and_superusers(export_project, two_items, ml_user):
    judge(export_project, "r1", {"q-1": answer([["a"], ["b"]])})
    snapshot = export(ml_user, projects=(export_project.pk,))
    other = UserFactory(username="olga-ml", role="ml")
    root = UserFactory(username="root", is_superuser=True)

    assert list(snapshot_list_for_user(user=ml_user)) == [snapshot]
    assert list(snapshot_list_for_user(user=other)) == []
    assert list(snapshot_list_for_user(user=root)) == [snapshot]
