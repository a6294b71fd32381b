"""Agreement and quality metrics, as pure functions over plain values (tested on hand-computed cases).

Conventions for a comparison judgement on an item:
- `pair_label(ranking, x, y)` for two response ids with x < y (sorted ids give every item a canonical
  orientation): +1 if x is ranked above y, -1 if below, 0 if they share a tier (a tie).
- pairwise agreement: over every pair of judgements of the same item and every response pair, the
  share with the same label (ties are a label of their own, so tie/tie agrees and tie/win does not).
- Fleiss' kappa: units are (item, response pair); categories are the three labels; computed over the
  units that have the most common number of ratings (Fleiss needs equal ratings per unit).
- Krippendorff's alpha (ordinal): 2-response items; the value is the signed preference strength
  towards the canonical first response (+s, -s, or 0 for a tie); `krippendorff` computes it.
- leave-one-out majority: a judgement agrees if its label equals the strict majority label of the
  other judgements of the item (items without such a majority are skipped).
- position bias: among non-tie judgements, the share whose best response was the one shown first.
"""

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np

LABELS = (1, 0, -1)


def top_tier(ranking: Sequence[Sequence[str]] | None) -> frozenset[str]:
    return frozenset(ranking[0]) if ranking else frozenset()


def tier_index(ranking: Sequence[Sequence[str]]) -> dict[str, int]:
    return {rid: index for index, tier in enumerate(ranking) for rid in tier}


def pair_label(tiers: dict[str, int], x: str, y: str) -> int:
    a, b = tiers.get(x), tiers.get(y)
    if a is None or b is None or a == b:
        return 0
    return 1 if a < b else -1


def response_pairs(ranking: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    return list(combinations(sorted(rid for tier in ranking for rid in tier), 2))


def gold_correct(kind: str, answer: dict[str, Any], gold: dict[str, Any] | None) -> bool | None:
    """Whether a judgement matches an item's gold answer; None when the gold says nothing about it.

    comparison: the best tier equals the gold's best tier. steps: the labels equal the gold labels.
    critique: `no_flaws` matches the gold's, and/or the quality is within 1 of the gold's quality.
    """
    if not gold:
        return None
    if kind == "comparison":
        return top_tier(answer.get("ranking")) == top_tier(gold.get("ranking")) if gold.get("ranking") else None
    if kind == "steps":
        return list(answer.get("step_labels") or []) == list(gold["labels"]) if gold.get("labels") else None
    checks = []
    if isinstance(gold.get("no_flaws"), bool):
        checks.append(bool(answer.get("no_flaws")) == gold["no_flaws"])
    if isinstance(gold.get("quality"), int) and answer.get("quality") is not None:
        checks.append(abs(answer["quality"] - gold["quality"]) <= 1)
    return all(checks) if checks else None


def fleiss_kappa(units: np.ndarray) -> float | None:
    """Fleiss' kappa for an (units x categories) count matrix with the same number of ratings per unit."""
    if units.size == 0:
        return None
    n = units.sum(axis=1)
    if n.min() != n.max() or n[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings in every unit")
    m = float(n[0])
    p_j = units.sum(axis=0) / units.sum()
    p_i = ((units * (units - 1)).sum(axis=1)) / (m * (m - 1))
    p_bar, p_e = p_i.mean(), (p_j**2).sum()
    if p_e == 1:
        return None  # every rating in one category: kappa is undefined
    return float((p_bar - p_e) / (1 - p_e))


def krippendorff_ordinal(value_counts: np.ndarray) -> float | None:
    """Krippendorff's alpha (ordinal) from a (units x values) count matrix, values in ascending order."""
    import krippendorff

    pairable = value_counts[value_counts.sum(axis=1) >= 2]
    if len(pairable) == 0 or (pairable.sum(axis=0) > 0).sum() < 2:
        return None  # no pairable units, or a single value used: alpha is undefined
    return float(krippendorff.alpha(value_counts=pairable, level_of_measurement="ordinal"))


class AgreementAccumulator:
    """Streams the judgements of one item at a time and accumulates every agreement figure."""

    def __init__(self, max_strength: int) -> None:
        self.max_strength = max(max_strength, 1)
        self.pairs_total = 0
        self.pairs_agree = 0
        self.fleiss_rows: dict[int, array] = {}
        self.kripp_rows = array("H")
        self.values = 2 * self.max_strength + 1
        self.loo: Counter[tuple[int, bool]] = Counter()  # (rater, agreed) -> count
        self.reference: Counter[tuple[int, bool]] = Counter()
        self.disputed: list[int] = []

    def add_item(self, item_id: int, judgements: list[dict[str, Any]], reference: dict | None) -> tuple[int, int]:
        """Accumulate one item's judgements; return this item's (agreeing pairs, pairs)."""
        before = (self.pairs_agree, self.pairs_total)
        self._add_item(item_id, judgements, reference)
        return self.pairs_agree - before[0], self.pairs_total - before[1]

    def _add_item(self, item_id: int, judgements: list[dict[str, Any]], reference: dict | None) -> None:
        rankings = [j for j in judgements if j.get("ranking")]
        if not rankings:
            return
        tiers = [tier_index(j["ranking"]) for j in rankings]
        pairs = response_pairs(rankings[0]["ranking"])
        if reference and reference.get("ranking"):
            ref_tiers = tier_index(reference["ranking"])
            for judgement, t in zip(rankings, tiers, strict=True):
                for x, y in pairs:
                    self.reference[(judgement["rater_id"], pair_label(t, x, y) == pair_label(ref_tiers, x, y))] += 1
        if len(rankings) < 2:
            return
        disputed = False
        for x, y in pairs:
            labels = [pair_label(t, x, y) for t in tiers]
            counts = Counter(labels)
            self.pairs_total += len(labels) * (len(labels) - 1) // 2
            self.pairs_agree += sum(c * (c - 1) // 2 for c in counts.values())
            self.fleiss_rows.setdefault(len(labels), array("H")).extend(counts.get(label, 0) for label in LABELS)
            top_two = counts.most_common(2)
            if len(top_two) > 1 and top_two[0][1] == top_two[1][1]:
                disputed = True
            for index, (judgement, label) in enumerate(zip(rankings, labels, strict=True)):
                others = Counter(labels[:index] + labels[index + 1 :]).most_common(2)
                if others and (len(others) == 1 or others[0][1] > others[1][1]):
                    self.loo[(judgement["rater_id"], label == others[0][0])] += 1
        if len(pairs) == 1:
            x, y = pairs[0]
            row = [0] * self.values
            for judgement, t in zip(rankings, tiers, strict=True):
                strength = judgement.get("strength") or 1
                signed = pair_label(t, x, y) * min(strength, self.max_strength)
                row[signed + self.max_strength] += 1
            self.kripp_rows.extend(row)
        if disputed:
            self.disputed.append(item_id)

    def summary(self) -> dict[str, Any]:
        fleiss = None
        if self.fleiss_rows:
            n, rows = max(self.fleiss_rows.items(), key=lambda kv: (len(kv[1]), kv[0]))
            fleiss = {
                "kappa": fleiss_kappa(np.frombuffer(rows, dtype=np.uint16).reshape(-1, 3).astype(float)),
                "units": len(rows) // 3,
                "raters_per_unit": n,
            }
        kripp_counts = np.frombuffer(self.kripp_rows, dtype=np.uint16).reshape(-1, self.values).astype(float)
        return {
            "pairwise_agreement": {
                "value": self.pairs_agree / self.pairs_total if self.pairs_total else None,
                "pairs": self.pairs_total,
            },
            "fleiss_kappa": fleiss,
            "krippendorff_alpha_ordinal": {
                "value": krippendorff_ordinal(kripp_counts),
                "units": int((kripp_counts.sum(axis=1) >= 2).sum()),
            },
            "reference_agreement": _share(self.reference),
            "loo_majority_agreement": _share(self.loo),
        }


def _share(counter: Counter[tuple[int, bool]]) -> dict[str, Any]:
    agree = sum(c for (_, ok), c in counter.items() if ok)
    total = sum(counter.values())
    return {"value": agree / total if total else None, "n": total}


def per_rater_share(counter: Counter[tuple[int, bool]]) -> dict[int, tuple[int, int]]:
    out: dict[int, list[int]] = {}
    for (rater, ok), count in counter.items():
        entry = out.setdefault(rater, [0, 0])
        entry[0] += count if ok else 0
        entry[1] += count
    return {rater: (agree, total) for rater, (agree, total) in out.items()}


def position_bias(judgements: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """(first-shown response chosen, non-tie judgements)."""
    first = total = 0
    for judgement in judgements:
        top = top_tier(judgement.get("ranking"))
        order = judgement.get("display_order") or []
        if len(top) != 1 or not order:
            continue
        total += 1
        first += order[0] in top
    return first, total
