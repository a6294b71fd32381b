"""The bundled MiniLM trained on a few hundred HH-RLHF pairs beats chance on its held-out prompts."""

import pytest

from rewardmodel.services.training import training_run_create
from rewardmodel.training.trainer import TrainConfig
from tests.rewardmodel.factories import export
from tests.rewardmodel.test_roundtrip import hh_lines, import_hh

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_minilm_on_hh_rlhf_beats_chance_on_the_test_split(export_project, ml_user, hh_file):
    import_hh(export_project, hh_lines(hh_file, limit=HH_PAIRS))
    snapshot = export(ml_user, projects=(export_project.pk,), use_reference=True, test_fraction=TEST_FRACTION)
    config = TrainConfig(max_length=128, batch_size=16, learning_rate=LEARNING_RATE, epochs=1, seed=0)

    run = training_run_create(snapshot_id=snapshot.pk, config=config, created_by=ml_user, run_inline=True)

    assert run.status == "done", run.error
    assert run.metrics["train_pairs"] >= 600
    assert run.metrics["pairs"] >= 200
    assert run.metrics["accuracy"] > 0.5


HH_PAIRS = 900
TEST_FRACTION = 0.3
LEARNING_RATE = 5e-5
