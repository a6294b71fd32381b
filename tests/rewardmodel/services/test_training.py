"""Training runs from snapshot to checkpoint to scores, resume after an interruption, validation."""

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from common.exceptions import ApplicationError
from rewardmodel.models import BatchScoring, ResponseScore, TrainingRun
from rewardmodel.selectors import disagreement_list, score_rows
from rewardmodel.services.scoring import batch_scoring_request
from rewardmodel.services.training import MAX_ATTEMPTS, training_run_create, training_run_execute
from rewardmodel.tasks import score_batch, train_reward_model
from rewardmodel.training.trainer import TrainConfig
from tests.labeling.factories import UserFactory
from tests.rewardmodel.factories import export

pytestmark = pytest.mark.django_db


@pytest.fixture
def config(tiny_rm_dir):  # type: ignore[no-untyped-def]
    return TrainConfig(base_model=str(tiny_rm_dir), max_length=32, batch_size=2, epochs=2, learning_rate=1e-3)


def weights(run: TrainingRun) -> dict[str, torch.Tensor]:
    return load_file(run.model_directory / "model.safetensors")


def test_a_run_trains_evaluates_and_writes_a_loadable_checkpoint(judged_snapshot, ml_user, config):
    snapshot, _ = judged_snapshot

    run = training_run_create(snapshot_id=snapshot.pk, config=config, created_by=ml_user, run_inline=True)

    assert (run.status, run.attempts, run.error) == ("done", 1, "")
    rows = snapshot.counts["rows"]
    assert run.metrics["train_pairs"] == rows["train"] and run.metrics["pairs"] == rows["test"] > 0
    assert 0.0 <= run.metrics["accuracy"] <= 1.0
    assert set(run.metrics["accuracy_by"]) >= {"batch", "margin"}
    assert run.progress["step"] == run.progress["total_steps"] == run.summary["steps"]
    assert len(run.loss_curve) == run.summary["steps"] and run.loss_curve[-1][0] == run.summary["steps"]
    model = AutoModelForSequenceClassification.from_pretrained(run.model_directory)
    tokenizer = AutoTokenizer.from_pretrained(run.model_directory)
    assert model(**tokenizer("Question 1?", "Answer 0 to 1", return_tensors="pt")).logits.shape == (1, 1)
    card = json.loads((run.model_directory / "run.json").read_text())
    assert (card["snapshot"]["content_hash"], card["config"]["seed"]) == (snapshot.content_hash, 0)
    assert card["metrics"]["accuracy"] == run.metrics["accuracy"]
    assert f"export snapshot {snapshot.pk}" in (run.model_directory / "README.md").read_text()
    assert not (run.directory / "checkpoint").exists()


def test_scoring_a_batch_stores_a_score_per_response_and_finds_disagreements(
    judged_snapshot, ml_user, config, django_capture_on_commit_callbacks
):
    snapshot, batch = judged_snapshot
    run = training_run_create(snapshot_id=snapshot.pk, config=config, created_by=ml_user, run_inline=True)

    with django_capture_on_commit_callbacks(execute=True):  # the (eager) task, queued on commit
        scoring = batch_scoring_request(run=run, batch_id=batch.pk, requested_by=ml_user)

    scoring.refresh_from_db()
    assert (scoring.status, scoring.responses_scored) == ("done", 24)
    scores = {(r.external_id, r.response_id): r.score for r in score_rows(scoring=scoring)}
    assert len(scores) == 24 == ResponseScore.objects.filter(run=run).count()
    disagreements = disagreement_list(scoring=scoring, limit=100)
    # by hand: item q-i disagrees when the model ranks the raters' choice lower
    expected = []
    for i in range(12):
        chosen, rejected = ("a", "b") if i % 2 == 0 else ("b", "a")
        margin = scores[(f"q-{i}", chosen)] - scores[(f"q-{i}", rejected)]
        if margin < 0:
            expected.append((f"q-{i}", chosen, rejected, margin))
    expected.sort(key=lambda e: e[3])
    assert [(d.external_id, d.human_chosen, d.human_rejected) for d in disagreements] == [e[:3] for e in expected]
    assert [d.reward_margin for d in disagreements] == pytest.approx([e[3] for e in expected])
    assert all((d.votes_for, d.votes) == (1, 1) for d in disagreements)
    assert len(disagreement_list(scoring=scoring, limit=1)) == min(1, len(expected))


def test_scoring_twice_keeps_one_scoring_and_the_same_scores(judged_snapshot, ml_user, config):
    snapshot, batch = judged_snapshot
    run = training_run_create(snapshot_id=snapshot.pk, config=config, created_by=ml_user, run_inline=True)
    first = batch_scoring_request(run=run, batch_id=batch.pk, requested_by=ml_user, run_inline=True)
    before = list(ResponseScore.objects.order_by("id").values_list("id", "score"))

    score_batch.delay(first.pk)
    again = batch_scoring_request(run=run, batch_id=batch.pk, requested_by=ml_user, run_inline=True)

    assert again.pk == first.pk and BatchScoring.objects.count() == 1
    assert list(ResponseScore.objects.order_by("id").values_list("id", "score")) == before


def test_an_interrupted_run_resumes_to_the_same_weights_as_an_uninterrupted_one(judged_snapshot, ml_user, config):
    snapshot, _ = judged_snapshot
    config = replace(config, checkpoint_every=1000)
    straight = training_run_create(snapshot_id=snapshot.pk, config=config, created_by=ml_user, run_inline=True)
    run = training_run_create(snapshot_id=snapshot.pk, config=config, created_by=ml_user)  # queued (no commit)

    training_run_execute(run=run, stop_after_steps=3)
    interrupted = TrainingRun.objects.get(pk=run.pk)
    checkpoint_saved = (run.directory / "checkpoint" / "trainer_state.pt").is_file()
    resumed = training_run_execute(run=TrainingRun.objects.get(pk=run.pk))

    assert (interrupted.status, interrupted.progress["step"], checkpoint_saved) == ("running", 3, True)
    assert (resumed.status, resumed.attempts) == ("done", 2)
    assert resumed.summary["steps"] == straight.summary["steps"] > 3
    assert resumed.loss_curve == straight.loss_curve
    assert resumed.metrics["accuracy"] == straight.metrics["accuracy"]
    expected = weights(straight)
    actual = weights(resumed)
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[name], actual[name]) for name in expected)


def test_the_task_leaves_a_done_run_alone(judged_snapshot, ml_user, config):
    snapshot, _ = judged_snapshot
    run = training_run_create(snapshot_id=snapshot.pk, config=config, created_by=ml_user, run_inline=True)

    train_reward_model.delay(run.pk)

    after = TrainingRun.objects.get(pk=run.pk)
    assert (after.status, after.attempts, after.finished_at) == ("done", 1, run.finished_at)


def test_a_run_that_kept_killing_its_worker_is_given_up(judged_snapshot, ml_user, config):
    snapshot, _ = judged_snapshot
    run = training_run_create(snapshot_id=snapshot.pk, config=config, created_by=ml_user)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", attempts=MAX_ATTEMPTS)

    train_reward_model.delay(run.pk)

    run.refresh_from_db()
    assert run.status == "failed" and "Gave up after 3 attempts" in run.error


def test_a_training_error_fails_the_run_with_its_reason(judged_snapshot, ml_user, tmp_path, config):
    snapshot, _ = judged_snapshot
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")

    run = training_run_create(
        snapshot_id=snapshot.pk, config=replace(config, base_model=str(broken)), created_by=ml_user, run_inline=True
    )

    assert run.status == "failed" and run.error and run.finished_at is not None


def test_the_tasks_are_named_and_routed():
    assert (train_reward_model.name, train_reward_model.queue) == ("rewardmodel.train_reward_model", "default")
    assert (score_batch.name, score_batch.queue) == ("rewardmodel.score_batch", "default")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"learning_rate": 0.5}, "learning_rate"),
        ({"max_length": 4}, "max_length"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"base_model": "../../etc"}, "base_model"),
        ({"base_model": "/nonexistent/model"}, "base_model"),
        ({"base_model": ""}, "base_model"),
        ({"dropout": "yes"}, "dropout"),
    ],
)
def test_config_values_out_of_range_are_refused_naming_the_field(judged_snapshot, ml_user, config, change, field):
    snapshot, _ = judged_snapshot

    with pytest.raises(ApplicationError) as error:
        training_run_create(snapshot_id=snapshot.pk, config=replace(config, **change), created_by=ml_user)

    assert error.value.errors[0]["field"] == field
    assert TrainingRun.objects.count() == 0


def test_only_the_users_own_done_trainable_snapshots_can_be_trained_on(
    judged_snapshot, ml_user, export_project, config
):
    snapshot, _ = judged_snapshot
    other = UserFactory(username="other-ml", role="ml")
    hh = export(ml_user, projects=(export_project.pk,), format="hh-rlhf")

    for snapshot_id, user in ((snapshot.pk, other), (hh.pk, ml_user), (987_654, ml_user)):
        with pytest.raises(ApplicationError) as error:
            training_run_create(snapshot_id=snapshot_id, config=config, created_by=user)
        assert error.value.errors[0]["field"] == "snapshot"
    assert TrainingRun.objects.count() == 0
