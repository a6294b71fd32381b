"""Held-out evaluation of a reward model: accuracy, margins, accuracy by bucket, calibration."""

import hashlib
import math
from collections import defaultdict
from typing import Any

from rewardmodel.training.data import Group

MARGIN_BINS = [-math.inf, -2, -1, -0.5, 0, 0.5, 1, 2, math.inf]


def evaluate(groups: list[Group], rewards: list[list[float]], *, calibration_bins: int = 10) -> dict[str, Any]:
    """Pairwise accuracy (a tie in reward counts as half), the distribution of reward margins
    r_chosen - r_rejected, accuracy by bucket (batch, flag, strength / margin label when the rows carry
    them), and calibration: pairs are oriented by a hash (not by which one was chosen), the predicted
    P(first preferred) = σ(r_first - r_second) is binned and compared with how often the first was the
    human choice."""
    correct = 0.0
    total = 0
    margins: list[float] = []
    buckets: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    bins = [[0.0, 0.0, 0] for _ in range(calibration_bins)]  # sum predicted, sum observed, count
    for group, values in zip(groups, rewards, strict=True):
        for pair in group.pairs:
            diff = values[pair.chosen] - values[pair.rejected]
            hit = 1.0 if diff > 0 else 0.5 if diff == 0 else 0.0
            correct += hit
            total += 1
            margins.append(diff)
            for name, label in _bucket_labels(pair.meta):
                entry = buckets[name][label]
                entry[0] += hit
                entry[1] += 1
            flip = hashlib.blake2b(f"{group.key}:{pair.chosen}:{pair.rejected}".encode(), digest_size=1).digest()[0] & 1
            oriented = -diff if flip else diff
            predicted = 1 / (1 + math.exp(-max(min(oriented, 60), -60)))
            index = min(int(predicted * calibration_bins), calibration_bins - 1)
            bins[index][0] += predicted
            bins[index][1] += 0.0 if flip else 1.0
            bins[index][2] += 1
    histogram = [0] * (len(MARGIN_BINS) - 1)
    for margin in margins:
        for i in range(len(MARGIN_BINS) - 1):
            if MARGIN_BINS[i] <= margin < MARGIN_BINS[i + 1]:
                histogram[i] += 1
                break
    return {
        "pairs": total,
        "accuracy": correct / total if total else None,
        "mean_margin": sum(margins) / total if total else None,
        "margin_histogram": [
            {"from": _finite(MARGIN_BINS[i]), "to": _finite(MARGIN_BINS[i + 1]), "count": histogram[i]}
            for i in range(len(histogram))
        ],
        "accuracy_by": {
            name: {label: {"accuracy": hits / n, "pairs": n} for label, (hits, n) in sorted(values.items())}
            for name, values in buckets.items()
        },
        "calibration": [
            {"bin": i, "predicted": p / n, "observed": o / n, "pairs": n} for i, (p, o, n) in enumerate(bins) if n
        ],
    }


def _bucket_labels(meta: dict[str, Any]):  # type: ignore[no-untyped-def]
    if "batch" in meta:
        yield "batch", str(meta["batch"])
    if "strength" in meta:
        yield "strength", str(meta["strength"])
    elif "margin" in meta:
        yield "margin", f"{float(meta['margin']):.2f}"
    for flag in meta.get("flags") or []:
        yield "flag", str(flag)


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value
