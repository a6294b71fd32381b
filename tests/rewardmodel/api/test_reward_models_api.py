"""The reward-model API and pages: start a run, watch it, score a batch, read disagreements and scores."""

import csv
import io

import orjson
import pytest
from django.core.management import call_command
from django.test import Client

from labeling.models import Response
from rewardmodel.models import BatchScoring, ResponseScore, TrainingRun
from rewardmodel.score_export import csv_safe
from tests.labeling.factories import UserFactory, comparison_line, import_lines
from tests.rewardmodel.factories import BatchScoringFactory, FinishedTrainingRunFactory, answer, export, judge, scored

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_config(tiny_rm_dir):  # type: ignore[no-untyped-def]
    return {"base_model": str(tiny_rm_dir), "max_length": 32, "batch_size": 2, "epochs": 1, "learning_rate": 1e-3}


def test_ml_staff_start_a_run_watch_it_and_score_a_batch(
    judged_snapshot, ml_user, client_for, tiny_config, django_capture_on_commit_callbacks
):
    snapshot, batch = judged_snapshot
    client = client_for(ml_user)

    with django_capture_on_commit_callbacks(execute=True) as queued:  # the eager task trains here
        started = client.post("/api/v1/reward-models/", {"snapshot": snapshot.pk, **tiny_config}, format="json")
    detail = client.get(f"/api/v1/reward-models/{started.data['id']}/")
    with django_capture_on_commit_callbacks(execute=True):
        scoring = client.post(f"/api/v1/reward-models/{started.data['id']}/score/", {"batch": batch.pk}, format="json")
    listing = client.get("/api/v1/reward-models/")

    assert (started.status_code, started.data["status"], len(queued)) == (202, "queued", 1)
    assert detail.status_code == 200 and detail.data["status"] == "done"
    assert detail.data["progress"]["step"] == detail.data["progress"]["total_steps"] > 0
    assert detail.data["metrics"]["pairs"] == snapshot.counts["rows"]["test"]
    assert detail.data["config"]["base_model"] == tiny_config["base_model"]
    assert scoring.status_code == 202
    assert BatchScoring.objects.get().status == "done"
    assert [r["id"] for r in listing.data] == [started.data["id"]]


def test_a_bad_config_is_a_400_naming_the_field(judged_snapshot, ml_user, client_for):
    snapshot, _ = judged_snapshot

    response = client_for(ml_user).post(
        "/api/v1/reward-models/", {"snapshot": snapshot.pk, "learning_rate": 3}, format="json"
    )

    assert response.status_code == 400
    assert response.data["errors"][0]["field"] == "learning_rate"
    assert TrainingRun.objects.count() == 0


def test_scoring_with_a_run_that_is_not_done_is_a_409(judged_snapshot, ml_user, client_for):
    snapshot, batch = judged_snapshot
    run = FinishedTrainingRunFactory(snapshot=snapshot, created_by=ml_user, status="running", finished_at=None)

    response = client_for(ml_user).post(f"/api/v1/reward-models/{run.pk}/score/", {"batch": batch.pk}, format="json")

    assert response.status_code == 409 and response.data["code"] == "not_ready"


@pytest.fixture
def scored_batch(export_project, ml_user):  # type: ignore[no-untyped-def]
    """Three items: raters prefer a on q-1 and q-2, b on q-3; the model prefers b on q-1 (by 2) and q-2 (by
    0.5), and b on q-3 (agrees)."""
    batch = import_lines(export_project, [comparison_line(1), comparison_line(2), comparison_line(3)])
    judge(
        export_project,
        "r1",
        {"q-1": answer([["a"], ["b"]]), "q-2": answer([["a"], ["b"]]), "q-3": answer([["b"], ["a"]])},
    )
    judge(
        export_project,
        "r2",
        {"q-1": answer([["a"], ["b"]]), "q-2": answer([["b"], ["a"]]), "q-3": answer([["b"], ["a"]])},
    )
    judge(export_project, "r3", {"q-2": answer([["a"], ["b"]])})
    snapshot = export(ml_user, projects=(export_project.pk,))
    run = FinishedTrainingRunFactory(snapshot=snapshot, created_by=ml_user)
    scores = {"q-1": {"a": 0.0, "b": 2.0}, "q-2": {"a": 1.0, "b": 1.5}, "q-3": {"a": -1.0, "b": 3.0}}
    for response in Response.objects.filter(item__batch=batch).select_related("item"):
        ResponseScore.objects.create(
            run=run, response=response, score=scores[response.item.external_id][response.response_id]
        )
    BatchScoringFactory(run=run, batch=batch, responses_scored=6)
    return run, batch


def test_disagreements_rank_items_by_the_reward_gap_against_the_majority(scored_batch, admin_user, client_for):
    run, batch = scored_batch

    response = client_for(admin_user).get(f"/api/v1/reward-models/{run.pk}/disagreements/?batch={batch.pk}")

    assert response.status_code == 200
    assert [
        (d["external_id"], d["human_chosen"], d["reward_margin"], d["votes_for"], d["votes"]) for d in response.data
    ] == [
        ("q-1", "a", -2.0, 2, 2),
        ("q-2", "a", -0.5, 2, 3),
    ]


def test_the_disagreement_page_links_admins_to_adjudication(scored_batch, admin_user, export_project):
    run, batch = scored_batch
    client = Client()
    client.force_login(admin_user)

    page = client.get(f"/reward-models/{run.pk}/disagreements/?batch={batch.pk}").content.decode()

    item = batch.items.get(external_id="q-1")
    assert f"/projects/{export_project.pk}/adjudication/{item.pk}/" in page
    assert page.index("q-1") < page.index("q-2") and "q-3" not in page


def test_scores_export_as_jsonl_and_csv(scored_batch, ml_user, client_for):
    run, batch = scored_batch
    client = client_for(ml_user)

    jsonl = client.get(f"/api/v1/reward-models/{run.pk}/scores/?batch={batch.pk}")
    table = client.get(f"/api/v1/reward-models/{run.pk}/scores/?batch={batch.pk}&format=csv")

    rows = [orjson.loads(line) for line in b"".join(jsonl.streaming_content).splitlines()]
    assert [(r["external_id"], r["response_id"], r["score"]) for r in rows][:2] == [
        ("q-1", "a", 0.0),
        ("q-1", "b", 2.0),
    ]
    assert len(rows) == 6
    parsed = list(csv.reader(io.StringIO(b"".join(table.streaming_content).decode())))
    assert parsed[0] == ["item_id", "external_id", "response_id", "model", "score"]
    assert parsed[1][1:] == ["q-1", "a", "m0", "0.0"]
    assert table["Content-Type"].startswith("text/csv")


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(export_project, ml_user, client_for):
    line = comparison_line(1, id='=HYPERLINK("http://x")')
    line["responses"][0]["model"] = "@SUM(A1)"
    line["responses"][1]["model"] = "-2+3"
    batch = import_lines(export_project, [line])
    run = FinishedTrainingRunFactory(snapshot=export(ml_user, projects=(export_project.pk,)), created_by=ml_user)
    scored(run, batch, {"a": -1.25, "b": 0.5})

    table = client_for(ml_user).get(f"/api/v1/reward-models/{run.pk}/scores/?batch={batch.pk}&format=csv")

    parsed = list(csv.reader(io.StringIO(b"".join(table.streaming_content).decode())))
    assert [row[1:] for row in parsed[1:]] == [
        ['\'=HYPERLINK("http://x")', "a", "'@SUM(A1)", "-1.25"],
        ['\'=HYPERLINK("http://x")', "b", "'-2+3", "0.5"],
    ]
    assert [csv_safe(v) for v in ("+1", "\tx", "\rx", "ok", "")] == ["'+1", "'\tx", "'\rx", "ok", ""]


def test_an_unscored_batch_or_a_missing_batch_parameter(scored_batch, ml_user, export_project, client_for):
    run, _ = scored_batch
    other_batch = import_lines(export_project, [comparison_line(7)], name="later")
    client = client_for(ml_user)

    assert client.get(f"/api/v1/reward-models/{run.pk}/disagreements/?batch={other_batch.pk}").status_code == 404
    assert client.get(f"/api/v1/reward-models/{run.pk}/disagreements/").data["errors"][0]["field"] == "batch"
    assert client.get(f"/api/v1/reward-models/{run.pk}/scores/?batch={other_batch.pk}&format=xml").status_code == 400


def test_other_ml_staff_do_not_see_a_run(scored_batch, client_for):
    run, _ = scored_batch
    other = UserFactory(username="other-ml", role="ml")

    assert client_for(other).get(f"/api/v1/reward-models/{run.pk}/").status_code == 404
    assert client_for(other).get("/api/v1/reward-models/").data == []


def test_the_run_page_shows_progress_metrics_and_charts(scored_batch, ml_user):
    run, _ = scored_batch
    TrainingRun.objects.filter(pk=run.pk).update(
        loss_curve=[[1, 0.7], [2, 0.6]],
        metrics={
            "pairs": 4,
            "accuracy": 0.75,
            "mean_margin": 0.3,
            "accuracy_by": {"batch": {"1": {"accuracy": 0.75, "pairs": 4}}},
            "margin_histogram": [{"from": None, "to": 0, "count": 1}, {"from": 0, "to": None, "count": 3}],
            "calibration": [{"bin": 7, "predicted": 0.72, "observed": 0.75, "pairs": 4}],
        },
    )
    client = Client()
    client.force_login(ml_user)

    home = client.get("/").content.decode()
    page = client.get(f"/reward-models/{run.pk}/").content.decode()
    listing = client.get("/reward-models/").content.decode()

    assert 'href="/reward-models/"' in home
    assert "0.7500" in page and "Training loss" in page and "Test accuracy by batch" in page
    assert "Calibration" in page and "<svg" in page
    assert "Disagreements" in page and "format=csv" in page
    assert "Train a reward model" in listing


def test_the_train_command_queues_or_trains_inline(judged_snapshot, tiny_rm_dir, capsys):
    snapshot, _ = judged_snapshot

    call_command(
        "train_reward_model",
        "--snapshot",
        str(snapshot.pk),
        "--base-model",
        str(tiny_rm_dir),
        "--max-length",
        "32",
        "--inline",
    )

    out = orjson.loads(capsys.readouterr().out)
    assert out["status"] == "done" and out["metrics"]["pairs"] == snapshot.counts["rows"]["test"]
    assert (TrainingRun.objects.get().model_directory / "config.json").is_file()
