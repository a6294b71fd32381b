"""The rules that turn rankings into preference pairs. Pure functions: nothing here touches the database.

A ranking is tiers of response ids, best first; ids in one tier are tied: [["b"], ["a", "c"]].

- Pairs: every response in a better tier beats every response in a worse tier, so K responses in K tiers
  give K(K-1)/2 ordered pairs (InstructGPT's expansion). Responses in one tier form tie pairs.
- Margin: strength / the project's strongest strength (1/3, 2/3, 1 on a three-step scale); 0.0 for a tie,
  a ranking without a strength, or when margins are turned off.
- Majority, per response pair: each judgement votes "x better", "y better" or "tie"; the outcome with
  the most votes wins, and a shared top count (or "tie" winning) is a tie. The margin of a majority
  pair is the mean margin of the votes for the winner.
- Agreement of an item: over every pair of judgements and every pair of responses, the share where both
  judgements order the two responses the same way (both prefer the same one, or both tie them).
  With two responses this is simply the share of judgement pairs that agree. Undefined (None) with
  fewer than two judgements.
- Gold correctness (`labeling.metrics.gold_correct`, shared with the quality dashboard): a judgement
  on an item with a gold ranking is correct when its top tier holds exactly the gold's top tier.
  Agreement above is the dashboard's pairwise agreement, per item.
"""

from collections.abc import Sequence
from itertools import combinations
from typing import NamedTuple, Protocol

Ranking = Sequence[Sequence[str]]


class PreferencePair(NamedTuple):
    chosen: str
    rejected: str
    margin: float
    tie: bool = False


class Labelled(Protocol):
    """Anything with a ranking and a strength: a Vote, or a judgement row."""

    @property
    def ranking(self) -> Ranking: ...

    @property
    def strength(self) -> int | None: ...


class Vote(NamedTuple):
    """One label on an item: a rater's judgement, an adjudication or a reference label."""

    ranking: Ranking
    strength: int | None = None


def margin_for(strength: int | None, strength_max: int) -> float:
    """Preference strength as a margin in [0, 1]; 0.0 when there is no strength or no scale."""
    if not strength or strength_max <= 0:
        return 0.0
    return min(strength, strength_max) / strength_max


def ranking_pairs(ranking: Ranking) -> list[tuple[str, str]]:
    """Every ordered (better, worse) pair the tiers imply, best tier first, in the ranking's own order."""
    if len(ranking) == 2 and len(ranking[0]) == 1 and len(ranking[1]) == 1:
        return [(ranking[0][0], ranking[1][0])]  # the common pairwise case, without the loops
    pairs = []
    for index, better_tier in enumerate(ranking):
        for worse_tier in ranking[index + 1 :]:
            pairs.extend((better, worse) for better in better_tier for worse in worse_tier)
    return pairs


def tied_pairs(ranking: Ranking, order: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of responses in the same tier, each written in `order` (the import order)."""
    position = {rid: index for index, rid in enumerate(order)}
    pairs = []
    for tier in ranking:
        if len(tier) > 1:
            ordered = sorted(tier, key=position.__getitem__)
            pairs.extend(combinations(ordered, 2))
    return pairs


def tier_of(ranking: Ranking) -> dict[str, int]:
    return {rid: index for index, tier in enumerate(ranking) for rid in tier}


def pairs_from_votes(
    votes: Sequence[Labelled], *, order: Sequence[str], strength_max: int, keep_ties: bool
) -> list[PreferencePair]:
    """Each vote on its own: all its ordered pairs (and its tie pairs when ties are kept)."""
    pairs = []
    for vote in votes:
        ranking = vote.ranking
        margin = margin_for(vote.strength, strength_max)
        if len(ranking) == 2 and len(ranking[0]) == 1 and len(ranking[1]) == 1:  # pairwise: most votes
            pairs.append(PreferencePair(ranking[0][0], ranking[1][0], margin))
            continue
        pairs.extend(PreferencePair(chosen, rejected, margin) for chosen, rejected in ranking_pairs(ranking))
        if keep_ties:
            pairs.extend(PreferencePair(x, y, 0.0, tie=True) for x, y in tied_pairs(ranking, order))
    return pairs


def majority_pairs(
    votes: Sequence[Labelled], *, order: Sequence[str], strength_max: int, keep_ties: bool
) -> list[PreferencePair]:
    """One pair per response pair, by plurality of the votes (see the module docstring), in import order."""
    tiers = [tier_of(vote.ranking) for vote in votes]
    margins = [margin_for(vote.strength, strength_max) for vote in votes]
    pairs = []
    for x, y in combinations(order, 2):
        x_better: list[float] = []
        y_better: list[float] = []
        tied = 0
        for tier, margin in zip(tiers, margins, strict=True):
            if x not in tier or y not in tier:
                continue
            if tier[x] < tier[y]:
                x_better.append(margin)
            elif tier[y] < tier[x]:
                y_better.append(margin)
            else:
                tied += 1
        if not (x_better or y_better or tied):
            continue
        if len(x_better) > max(len(y_better), tied):
            pairs.append(PreferencePair(x, y, sum(x_better) / len(x_better)))
        elif len(y_better) > max(len(x_better), tied):
            pairs.append(PreferencePair(y, x, sum(y_better) / len(y_better)))
        elif keep_ties:
            pairs.append(PreferencePair(x, y, 0.0, tie=True))
    return pairs


def item_agreement(rankings: Sequence[Ranking]) -> float | None:
    """Share of (judgement pair, response pair) comparisons that agree; None below two judgements."""
    n = len(rankings)
    if n < 2:
        return None
    # Two responses, no ties (the common case; every judgement ranks all of an item's responses): two
    # judgements agree when they pick the same winner.
    winners: dict[str, int] = {}
    for ranking in rankings:
        if len(ranking) != 2 or len(ranking[0]) != 1 or len(ranking[1]) != 1:
            break
        winners[ranking[0][0]] = winners.get(ranking[0][0], 0) + 1
    else:
        return sum(count * (count - 1) // 2 for count in winners.values()) / (n * (n - 1) // 2)
    tiers = [tier_of(ranking) for ranking in rankings]
    response_ids = sorted(set().union(*tiers))
    agreeing = 0
    compared = 0
    for x, y in combinations(response_ids, 2):
        outcomes: dict[int, int] = {}
        voters = 0
        for tier in tiers:
            if x in tier and y in tier:
                outcome = (tier[x] > tier[y]) - (tier[x] < tier[y])
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                voters += 1
        agreeing += sum(count * (count - 1) // 2 for count in outcomes.values())
        compared += voters * (voters - 1) // 2
    return agreeing / compared if compared else None
