"""The dataset card (README.md) written into every snapshot: a Hugging Face style front matter (license,
splits), then the definition, counts, agreement, label distribution and the rules that made the labels."""

from typing import TYPE_CHECKING, Any

import orjson

from rewardmodel.formats import FORMATS

if TYPE_CHECKING:
    from rewardmodel.models import DatasetSnapshot
    from rewardmodel.services.snapshots import ExportResult

EXCLUSION_REASONS = {
    "gold": "quality-control (gold) items",
    "all_bad": "marked all bad by a judgement",
    "flags": "tagged with an excluded flag",
    "agreement": "agreement below the minimum (or judged once)",
    "rater_accuracy": "every judgement from raters below the gold accuracy minimum",
    "no_pairs": "no preference left (ties only, with ties dropped)",
    "unlabelled": "no label",
}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render_card(*, snapshot: "DatasetSnapshot", definition: dict[str, Any], result: "ExportResult") -> str:
    export_format = FORMATS[definition["format"]]
    counts, stats = result.counts, result.stats
    data_files = [f for f in result.files if f["name"] != "README.md"]
    title = snapshot.name or f"Oversight preference export {snapshot.pk}"
    creator = snapshot.created_by.get_username() if snapshot.created_by else "the command line"
    front = ["---", f"license: {definition['license']}", f"pretty_name: {_json(title)}", "tags:", "- rlhf"]
    front += ["- preference", "configs:", "- config_name: default", "  data_files:"]
    for f in data_files:
        front += [f"  - split: {f['name'].split('.')[0]}", f"    path: {f['name']}"]
    front.append("---")

    margin_rule = (
        "`margin` = strength / the project's strongest strength (e.g. 1/3, 2/3, 1 on a three-step scale); "
        "0.0 for ties, rankings without a strength, and reference labels."
        if definition["margin"] == "strength"
        else "Margins are off: `margin` is 0.0 in every row."
    )
    aggregation = (
        "every judgement on its own: each contributes all the ordered pairs of its ranking"
        if definition["aggregation"] == "every"
        else "majority per response pair: the outcome (x better, y better, tie) with the most votes wins; "
        "a shared top count is a tie; the margin is the mean margin of the winning votes"
    )
    ties = "dropped" if definition["ties"] == "drop" else "kept, as one row in import order with `margin` 0.0"
    rows = counts["rows"]
    items = counts["items"]
    loader = "parquet" if export_format.suffix == ".parquet" else "json"
    splits = {f["name"].split(".")[0]: f["name"] for f in data_files}
    agreement = stats["agreement"]
    excluded = counts.get("excluded_items", {})
    parts = [
        "\n".join(front),
        f"# {title}",
        f"Oversight export #{snapshot.pk}, created {snapshot.created_at:%Y-%m-%d %H:%M} UTC by {creator}. "
        f"Format: **{export_format.title}** (`{export_format.name}`). License: `{definition['license']}`.",
        f"Content hash (sha256 over the rows): `{result.content_hash}`",
        "## Files and counts",
        _table(
            ("split", "file", "rows", "items (prompts)", "bytes", "sha256"),
            [
                (f["name"].split(".")[0], f["name"], f["rows"], items[f["name"].split(".")[0]], f["bytes"], f["sha256"])
                for f in data_files
            ]
            or [("–", "no rows", 0, 0, 0, "–")],
        ),
        f"Rows in total: {sum(rows.values())}. Judgements used: {counts['judgements_used']}. "
        f"Items by label source: {_json(counts['label_sources'])}.",
        "## Columns",
        export_format.description
        + f" Columns: {', '.join(f'`{c}`' for c in export_format.columns)}."
        + (" This export is conversational: every prompt is a message list." if stats["conversational"] else ""),
        "`group` is the item id: all pairs from one prompt's ranking share it (K-way rankings expand to "
        "every ordered pair)."
        if "group" in export_format.columns
        else "",
        "## How the labels were made",
        "- Precedence per item: an adjudication (an admin's final label), then the item's reference label "
        + ("(used in this export)" if definition["use_reference"] else "(not used in this export)")
        + f", then the raters' judgements, aggregated as {aggregation}.",
        f"- Ties: {ties}.",
        f"- Margin: {margin_rule}",
        "- Item agreement: over every pair of judgements and every pair of responses, the share where both "
        "order the two responses the same way (both prefer the same, or both tie). Rater gold accuracy: the "
        "share of a rater's gold-item judgements whose top tier equals the gold's top tier.",
        "## Split",
        f"By prompt: no prompt is in both splits. A prompt (its context included) is in test when its "
        f"seeded hash (blake2b, seed {definition['seed']}) read as a number in [0, 1) is below "
        f"{definition['test_fraction']}; the realised share of items in test is "
        f"{items['test'] / max(1, items['train'] + items['test']):.3f}.",
        "## Filters",
        _table(
            ("filter", "value"),
            [
                ("projects", _json(definition["projects"])),
                ("batches", _json(definition["batches"]) + ("" if definition["batches"] else " (all)")),
                ("exclude gold items", definition["exclude_gold"]),
                ("exclude items marked all bad", definition["exclude_all_bad"]),
                ("exclude items with flags", _json(definition["exclude_flags"])),
                ("min rater gold accuracy", definition["min_rater_gold_accuracy"]),
                ("min item agreement", definition["min_item_agreement"]),
            ],
        ),
        _table(
            ("items excluded because", "count"),
            [(EXCLUSION_REASONS.get(reason, reason), count) for reason, count in excluded.items()]
            or [("nothing was excluded", 0)],
        ),
        f"Judgements ignored (raters below the gold accuracy minimum): "
        f"{counts['judgements_ignored_low_accuracy']} from {counts['raters_below_accuracy']} raters.",
        "## Agreement",
        f"Items with two or more judgements: {agreement['items']}; mean agreement: {agreement['mean']}.",
        _table(("agreement", "items"), list(agreement["histogram"].items())),
        "## Label distribution",
        _table(("strength of the labels used", "labels"), list(stats["strengths"].items()) or [("–", 0)]),
        f"Tie rows: {stats['tie_rows']}. Mean margin: {stats['mean_margin']}. Share of two-response rows whose "
        f"chosen response was listed first in the import: {stats['chosen_first_share']}. Responses per item: "
        f"{_json(stats['responses_per_item'])}.",
        "## Definition",
        "```json\n" + orjson.dumps(definition, option=orjson.OPT_INDENT_2).decode() + "\n```",
        "## Loading",
        "```python\nfrom datasets import load_dataset\n\n"
        + f"ds = load_dataset({_json(loader)}, data_files={_json(splits)})"
        + "\n```",
    ]
    return "\n\n".join(part for part in parts if part) + "\n"
