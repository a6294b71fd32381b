import pytest

from rewardmodel.preferences import (
    PreferencePair,
    Vote,
    item_agreement,
    majority_pairs,
    margin_for,
    pairs_from_votes,
    ranking_pairs,
    tied_pairs,
)


def test_k_way_ranking_expands_to_every_ordered_pair():
    pairs = ranking_pairs([["a"], ["b", "c"], ["d"]])

    assert pairs == [("a", "b"), ("a", "c"), ("a", "d"), ("b", "d"), ("c", "d")]


def test_tied_pairs_follow_import_order():
    assert tied_pairs([["c", "a"], ["b"]], order=["a", "b", "c"]) == [("a", "c")]


@pytest.mark.parametrize(
    ("strength", "strength_max", "margin"),
    [(1, 3, 1 / 3), (3, 3, 1.0), (None, 3, 0.0), (2, 0, 0.0), (5, 3, 1.0)],
)
def test_margin_is_strength_over_the_scale(strength, strength_max, margin):
    assert margin_for(strength, strength_max) == pytest.approx(margin)


def test_every_vote_gives_its_own_pairs_with_its_margin():
    votes = [Vote([["a"], ["b"]], 3), Vote([["b"], ["a"]], 1)]

    pairs = pairs_from_votes(votes, order=["a", "b"], strength_max=3, keep_ties=False)

    assert pairs == [PreferencePair("a", "b", 1.0), PreferencePair("b", "a", 1 / 3)]


def test_ties_in_a_vote_are_dropped_or_kept_with_margin_zero():
    votes = [Vote([["b", "a"], ["c"]], 2)]

    dropped = pairs_from_votes(votes, order=["a", "b", "c"], strength_max=3, keep_ties=False)
    kept = pairs_from_votes(votes, order=["a", "b", "c"], strength_max=3, keep_ties=True)

    assert dropped == [PreferencePair("b", "c", 2 / 3), PreferencePair("a", "c", 2 / 3)]
    assert kept == [*dropped, PreferencePair("a", "b", 0.0, tie=True)]


def test_majority_picks_the_most_voted_order_with_the_winners_mean_margin():
    votes = [Vote([["b"], ["a"]], 3), Vote([["b"], ["a"]], 1), Vote([["a"], ["b"]], 3)]

    pairs = majority_pairs(votes, order=["a", "b"], strength_max=3, keep_ties=False)

    assert pairs == [PreferencePair("b", "a", pytest.approx(2 / 3))]


@pytest.mark.parametrize(
    "rankings",
    [
        [[["a"], ["b"]], [["b"], ["a"]]],  # one each way
        [[["a"], ["b"]], [["a", "b"]]],  # a preference against a tie
        [[["a", "b"]], [["a", "b"]], [["a"], ["b"]]],  # ties win the plurality
    ],
)
def test_majority_without_a_winner_is_a_tie_dropped_or_kept(rankings):
    votes = [Vote(ranking, None) for ranking in rankings]

    dropped = majority_pairs(votes, order=["a", "b"], strength_max=3, keep_ties=False)
    kept = majority_pairs(votes, order=["a", "b"], strength_max=3, keep_ties=True)

    assert dropped == []
    assert kept == [PreferencePair("a", "b", 0.0, tie=True)]


def test_majority_on_a_k_way_item_decides_each_pair_on_its_own():
    votes = [Vote([["a"], ["b"], ["c"]], None), Vote([["a"], ["c"], ["b"]], None), Vote([["b"], ["a"], ["c"]], None)]

    pairs = majority_pairs(votes, order=["a", "b", "c"], strength_max=0, keep_ties=False)

    assert [(p.chosen, p.rejected) for p in pairs] == [("a", "b"), ("a", "c"), ("b", "c")]


@pytest.mark.parametrize(
    ("rankings", "agreement"),
    [
        ([[["a"], ["b"]]], None),
        ([[["a"], ["b"]], [["a"], ["b"]]], 1.0),
        ([[["a"], ["b"]], [["a"], ["b"]], [["b"], ["a"]]], 1 / 3),
        ([[["a", "b"]], [["a", "b"]]], 1.0),
        ([[["a", "b"]], [["a"], ["b"]]], 0.0),
        # three responses: pairs (a,b) agree, (a,c) agree, (b,c) disagree
        ([[["a"], ["b"], ["c"]], [["a"], ["c"], ["b"]]], 2 / 3),
    ],
)
def test_item_agreement_is_the_share_of_agreeing_judgement_and_response_pairs(rankings, agreement):
    assert item_agreement(rankings) == (None if agreement is None else pytest.approx(agreement))


@pytest.mark.parametrize(
    ("ranking", "gold", "correct"),
    [
        ([["a"], ["b"]], [["a"], ["b"]], True),
        ([["b"], ["a"]], [["a"], ["b"]], False),
        ([["a"], ["c"], ["b"]], [["a"], ["b"], ["c"]], True),  # only the top tier counts
        ([["b", "a"], ["c"]], [["a", "b"], ["c"]], True),  # a tie at the top, in any order
        ([["a"], ["b", "c"]], [["a", "b"], ["c"]], False),
    ],
)
def test_gold_correctness_compares_top_tiers(ranking, gold, correct):
    from labeling.metrics import gold_correct

    assert gold_correct("comparison", {"ranking": ranking}, {"ranking": gold}) is correct


@pytest.mark.parametrize(
    "rankings",
    [
        [[["a"], ["b"]], [["a"], ["b"]], [["b"], ["a"]]],
        [[["a", "b"]], [["a"], ["b"]]],
        [[["a"], ["b"], ["c"]], [["a"], ["c"], ["b"]], [["c"], ["b", "a"]]],
    ],
)
def test_item_agreement_is_the_quality_dashboards_pairwise_agreement_for_one_item(rankings):
    from labeling.metrics import AgreementAccumulator

    dashboard = AgreementAccumulator(max_strength=3)
    dashboard.add_item(1, [{"ranking": r, "rater_id": n, "strength": None} for n, r in enumerate(rankings)], None)

    assert item_agreement(rankings) == pytest.approx(dashboard.summary()["pairwise_agreement"]["value"])
