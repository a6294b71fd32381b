"""Reads for assistance: what a rater is shown, and progress per batch."""

from typing import Any

from django.db.models import Count, Q

from assist.backends.local import BUNDLED_SMOLLM2
from assist.models import AssistArtifact
from common.stats import mean_interval, proportion
from labeling.markdown import render_markdown
from labeling.models import Batch, Item, Judgement, Project

MODEL_NAMES = {BUNDLED_SMOLLM2: "SmolLM2-135M-Instruct"}


def assists_for_item(*, item_id: int) -> list[dict[str, Any]]:
    """Finished artifacts of an item, newest per (kind, target), labelled as AI-written."""
    seen: set[tuple] = set()
    out = []
    artifacts = (
        AssistArtifact.objects.filter(item_id=item_id, status=AssistArtifact.Status.DONE)
        .select_related("response", "template")
        .order_by("-template__version", "-id")
    )
    for artifact in artifacts:
        key = (artifact.kind, artifact.target, artifact.response_id)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            {
                "id": artifact.pk,
                "kind": artifact.kind,
                "target": artifact.target,
                "response": artifact.response.response_id if artifact.response else None,
                "model": MODEL_NAMES.get(artifact.model_id, artifact.model_id),
                "label": f"AI-written {artifact.kind}",
                "text": artifact.text,
                "html": render_markdown(artifact.text),
            }
        )
    out.sort(key=lambda a: a["id"])
    return out


def assist_progress(*, batch: Batch) -> dict[str, int]:
    """Artifact counts of a batch by status."""
    counts = AssistArtifact.objects.filter(item__batch=batch).aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(status="done")),
        failed=Count("id", filter=Q(status="failed")),
        running=Count("id", filter=Q(status="running")),
        pending=Count("id", filter=Q(status="pending")),
    )
    return counts


def _top(ranking: list[list[str]]) -> frozenset[str]:
    return frozenset(ranking[0]) if ranking else frozenset()


def assistance_report(*, project: Project) -> dict[str, Any]:
    """Compare judgements made with and without AI assistance (the assignment's recorded arm).

    Per arm: judgements; time per task (mean seconds, 95% CI); gold accuracy (top tier equals the gold
    top tier, Wilson CI); agreement with other raters (share of pairs of comparison judgements on the same
    item whose top tiers match, Wilson CI); flags tagged per comparison task; flaws found per critique
    task (the headline of critique-assisted evaluation); mean helpfulness given to the AI critiques seen.
    """
    rows = list(
        Judgement.objects.filter(project=project).values_list(
            "item_id",
            "assistance_shown",
            "ranking",
            "time_spent_ms",
            "flags",
            "assist_ratings",
            "flaws",
            "critique_ratings",
        )
    )
    gold = dict(Item.objects.filter(batch__project=project, gold__isnull=False).values_list("id", "gold"))
    by_item: dict[int, list[tuple]] = {}
    for row in rows:
        by_item.setdefault(row[0], []).append(row)
    arms = []
    for shown in (True, False):
        mine = [row for row in rows if row[1] is shown]
        gold_rows = [row for row in mine if row[2] and row[0] in gold and gold[row[0]].get("ranking")]
        correct = sum(_top(row[2]) == _top(gold[row[0]]["ranking"]) for row in gold_rows)
        agree = pairs = 0
        for row in (row for row in mine if row[2]):
            for other in by_item[row[0]]:
                if other is row or not other[2]:
                    continue
                pairs += 1
                agree += _top(other[2]) == _top(row[2])
        ratings = [v for row in mine for v in (row[5] or {}).values() if isinstance(v, int)]
        ratings += [r["helpfulness"] for row in mine for r in (row[7] or {}).values()]
        critique_rows = [row for row in mine if row[2] is None]
        arms.append(
            {
                "arm": "assisted" if shown else "unassisted",
                "judgements": len(mine),
                "seconds_per_task": mean_interval([row[3] / 1000 for row in mine if row[3] is not None]),
                "gold_accuracy": proportion(correct, len(gold_rows)),
                "agreement_with_others": proportion(agree, pairs),
                "flags_per_task": mean_interval(
                    [sum(len(v) for v in (row[4] or {}).values()) for row in mine if row[2] is not None]
                ),
                "flaws_per_critique_task": mean_interval([len(row[6] or []) for row in critique_rows]),
                "critique_helpfulness": mean_interval(ratings),
            }
        )
    return {"project": project.pk, "assistance_mode": project.assistance_mode, "arms": arms}


REPORT_COLUMNS = (
    "seconds_per_task",
    "gold_accuracy",
    "agreement_with_others",
    "flags_per_task",
    "flaws_per_critique_task",
    "critique_helpfulness",
)


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's arms with their metrics in the page's column order."""
    return [{**arm, "metrics": [arm[column] for column in REPORT_COLUMNS]} for arm in report["arms"]]
