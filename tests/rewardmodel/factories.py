"""Judged data for export tests, made the way users make it: import, claim, submit."""

import factory
from django.utils import timezone

from labeling.models import Adjudication, Item, Project, Response
from labeling.services.assignment import assignment_claim_next, assignment_skip
from labeling.services.judgement import ComparisonAnswer, judgement_submit
from rewardmodel.models import BatchScoring, ResponseScore, TrainingRun
from rewardmodel.services.snapshots import ExportDefinition, snapshot_create
from rewardmodel.training.trainer import TrainConfig
from tests.labeling.factories import ProjectFactory, rater_in


class ExportProjectFactory(ProjectFactory):
    """A comparison project where several raters judge each item."""

    overlap = 5


class AdjudicationFactory(factory.django.DjangoModelFactory):
    """Adjudications have no service yet (admins make them in the Django admin)."""

    class Meta:
        model = Adjudication

    ranking = factory.LazyFunction(lambda: [["a"], ["b"]])
    strength = None


def answer(ranking: list[list[str]], strength: int | None = None, **fields) -> ComparisonAnswer:  # type: ignore[no-untyped-def]
    """A comparison answer; a strict preference between two responses defaults to strength 3 (of 3)."""
    if strength is None and len(ranking) > 1:
        strength = 3
    return ComparisonAnswer(ranking=ranking, strength=strength, **fields)


def judge(project: Project, username: str, answers: dict[str, ComparisonAnswer]):  # type: ignore[no-untyped-def]
    """`username` (a rater of the project, created if needed) judges the items named by external id;
    items not named are skipped, so they never come back to this rater."""
    rater = rater_in(project, username)
    remaining = dict(answers)
    while remaining:
        assignment = assignment_claim_next(project=project, rater=rater)
        assert assignment is not None, f"{username} found no task for {sorted(remaining)}"
        external_id = Item.objects.values_list("external_id", flat=True).get(pk=assignment.item_id)
        if external_id in remaining:
            judgement_submit(assignment=assignment, answer=remaining.pop(external_id))
        else:
            assignment_skip(assignment=assignment, reason="not part of this test")
    return rater


def export(user, *, name: str = "", **definition):  # type: ignore[no-untyped-def]
    """An inline export with test_fraction 0 unless given."""
    definition.setdefault("test_fraction", 0.0)
    return snapshot_create(definition=ExportDefinition(**definition), created_by=user, name=name, run_inline=True)


def item_of(project: Project, external_id: str) -> Item:
    return Item.objects.get(batch__project=project, external_id=external_id)


class FinishedTrainingRunFactory(factory.django.DjangoModelFactory):
    """A done run without training it (for access tests; the training path is tested end to end in
    tests/rewardmodel/services/test_training.py)."""

    class Meta:
        model = TrainingRun

    status = TrainingRun.Status.DONE
    config = factory.LazyFunction(lambda: TrainConfig().as_dict())
    metrics = factory.LazyFunction(lambda: {"pairs": 0, "accuracy": None})
    finished_at = factory.LazyFunction(timezone.now)


class BatchScoringFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BatchScoring

    status = BatchScoring.Status.DONE
    finished_at = factory.LazyFunction(timezone.now)


def scored(run: TrainingRun, batch, scores: dict[str, float]) -> BatchScoring:  # type: ignore[no-untyped-def]
    """Mark `batch` scored by `run`, every response getting scores[response id]."""
    responses = Response.objects.filter(item__batch=batch)
    ResponseScore.objects.bulk_create(
        ResponseScore(run=run, response=r, score=scores[r.response_id]) for r in responses
    )
    return BatchScoringFactory(run=run, batch=batch, responses_scored=len(responses))
