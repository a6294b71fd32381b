import krippendorff
import numpy as np
import pytest

from labeling.metrics import (
    AgreementAccumulator,
    fleiss_kappa,
    gold_correct,
    krippendorff_ordinal,
    pair_label,
    position_bias,
    tier_index,
)


def judgement(rater, ranking, strength=1, order=None):  # type: ignore[no-untyped-def]
    return {"rater_id": rater, "ranking": ranking, "strength": strength, "display_order": order or ["a", "b"]}


def test_pair_labels_with_ties():
    tiers = tier_index([["b"], ["a", "c"]])

    assert (pair_label(tiers, "a", "b"), pair_label(tiers, "a", "c"), pair_label(tiers, "b", "c")) == (-1, 0, 1)


def test_fleiss_kappa_hand_computed():
    # units x (win, tie, loss): P-bar = 4/9, P_e = 41/81, kappa = (4/9 - 41/81) / (1 - 41/81) = -1/8
    units = np.array([[3, 0, 0], [2, 1, 0], [1, 1, 1]], dtype=float)

    assert fleiss_kappa(units) == pytest.approx(-0.125)


def test_fleiss_kappa_is_undefined_when_everyone_says_the_same():
    assert fleiss_kappa(np.array([[3, 0, 0], [3, 0, 0]], dtype=float)) is None


def test_krippendorff_from_value_counts_matches_the_package_on_raw_data():
    # 3 raters x 4 items, signed strengths in -2..2, one missing rating
    raw = np.array([[2, 1, -1, 0], [2, 2, -2, np.nan], [1, 2, -1, 0]])
    counts = np.zeros((4, 5))
    for rater, unit in zip(*np.nonzero(~np.isnan(raw)), strict=True):
        counts[unit, int(raw[rater, unit]) + 2] += 1

    ours = krippendorff_ordinal(counts)

    assert ours == pytest.approx(krippendorff.alpha(reliability_data=raw, level_of_measurement="ordinal"))
    assert krippendorff_ordinal(
        np.array([[0, 0, 0, 2, 0], [0, 0, 0, 0, 2], [2, 0, 0, 0, 0]], dtype=float)
    ) == pytest.approx(1.0)


def test_accumulator_pairwise_agreement_loo_and_disputes():
    acc = AgreementAccumulator(max_strength=3)
    # item 1: labels a-vs-b = [+1, +1, 0]: agreeing pairs 1 of 3; the tie-rater disagrees with the others'
    # majority (+1); for the other two, the others split 1-1, so no majority and no count
    acc.add_item(1, [judgement(1, [["a"], ["b"]]), judgement(2, [["a"], ["b"]], 2), judgement(3, [["a", "b"]])], None)
    # item 2: [+1, -1]: each disagrees with the single other judgement; a tie for the majority: disputed
    acc.add_item(2, [judgement(1, [["a"], ["b"]]), judgement(2, [["b"], ["a"]])], None)

    summary = acc.summary()

    assert summary["pairwise_agreement"] == {"value": pytest.approx(1 / 4), "pairs": 4}
    assert summary["loo_majority_agreement"] == {"value": 0.0, "n": 3}
    assert acc.disputed == [2]
    assert summary["fleiss_kappa"]["raters_per_unit"] in (2, 3)


def test_reference_agreement_counts_each_judgement():
    acc = AgreementAccumulator(max_strength=3)

    acc.add_item(1, [judgement(1, [["a"], ["b"]]), judgement(2, [["b"], ["a"]])], {"ranking": [["a"], ["b"]]})

    assert acc.summary()["reference_agreement"] == {"value": 0.5, "n": 2}


def test_missing_data_gives_none_not_errors():
    summary = AgreementAccumulator(max_strength=3).summary()

    assert summary["pairwise_agreement"]["value"] is None
    assert summary["krippendorff_alpha_ordinal"]["value"] is None
    assert summary["fleiss_kappa"] is None


def test_position_bias_ignores_ties():
    rows = [
        judgement(1, [["b"], ["a"]], order=["b", "a"]),  # first shown chosen
        judgement(1, [["a"], ["b"]], order=["b", "a"]),  # second shown chosen
        judgement(1, [["a", "b"]], order=["a", "b"]),  # tie: not counted
    ]

    assert position_bias(rows) == (1, 2)


@pytest.mark.parametrize(
    ("kind", "answer", "gold", "expected"),
    [
        ("comparison", {"ranking": [["a"], ["b"]]}, {"ranking": [["a"], ["b"]]}, True),
        ("comparison", {"ranking": [["a", "b"]]}, {"ranking": [["a"], ["b"]]}, False),
        ("steps", {"step_labels": [1, -1]}, {"labels": [1, -1]}, True),
        ("steps", {"step_labels": [1, 1]}, {"labels": [1, -1]}, False),
        ("critique", {"quality": 5, "no_flaws": False}, {"quality": 6}, True),
        ("critique", {"quality": 2, "no_flaws": True}, {"no_flaws": False}, False),
        ("critique", {"quality": 2}, {"note": "no expectation"}, None),
        ("comparison", {"ranking": [["a"], ["b"]]}, None, None),
    ],
)
def test_gold_correct(kind, answer, gold, expected):
    assert gold_correct(kind, answer, gold) is expected
