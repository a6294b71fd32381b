"""Reward-model training runs: start one from a done export snapshot, run it (in a Celery worker, or
inline from `manage.py train_reward_model`), evaluate it on the snapshot's test split, and write its
run card. One service behind the API, the page and the command.

A run's life: queued → running → done | failed. While running, progress (step, loss, pairs/s) and a
downsampled loss curve are written in short autocommitted updates, at most once a second, so the page
and the API see them live. The trainer checkpoints to `<run dir>/checkpoint/` every
`checkpoint_every` steps; a worker that dies leaves the run `running`, and the redelivered task (Celery's
`acks_late`) or a re-run resumes from that checkpoint. A done or failed run is never run again: the task
is safe to deliver twice.
"""

import json
import logging
import math
import re
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.utils import timezone

from common.db import advisory_lock
from common.exceptions import ApplicationError
from labeling.models import Item, Judgement
from rewardmodel.models import DatasetSnapshot, TrainingRun
from rewardmodel.selectors import snapshot_list_for_user
from rewardmodel.training.data import Group, build_groups, read_jsonl
from rewardmodel.training.model import BUNDLED_MINILM
from rewardmodel.training.trainer import TrainConfig

logger = logging.getLogger(__name__)

# Formats whose rows carry an explicit prompt and group (HH-RLHF transcripts do not).
TRAINABLE_FORMATS = ("trl-jsonl", "parquet")
# A run whose worker died this many times is given up (it is probably what kills the worker, e.g. memory).
MAX_ATTEMPTS = 3
PROGRESS_EVERY_S = 1.0
LOSS_CURVE_POINTS = 200
# Advisory lock namespace (PostgreSQL): one executor per run, however often its task is delivered.
RUN_LOCK_SPACE = 0x5EA6
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?$")
# (field, minimum, maximum) of the numeric TrainConfig fields a user may set.
CONFIG_RANGES: dict[str, tuple[float, float]] = {
    "max_length": (16, 8192),
    "batch_size": (1, 4096),
    "learning_rate": (1e-8, 1e-2),
    "epochs": (1, 100),
    "seed": (0, 2**31 - 1),
    "warmup_ratio": (0.0, 0.9),
    "weight_decay": (0.0, 1.0),
    "max_grad_norm": (0.0, 1000.0),
    "checkpoint_every": (1, 1_000_000),
    "megabatch": (1, 10_000),
}


def _field_error(field_name: str, message: str, *, status_code: int | None = None) -> ApplicationError:
    return ApplicationError(
        message, code="invalid", errors=[{"field": field_name, "message": message}], status_code=status_code
    )


def _validated_config(config: TrainConfig) -> TrainConfig:
    base = (config.base_model or "").strip()
    if not base:
        raise _field_error("base_model", "name a model: bundled:minilm, a hub id or a local directory")
    if base != BUNDLED_MINILM and not HUB_ID.match(base):
        path = Path(base)
        if not path.is_absolute() or ".." in path.parts or not (path / "config.json").is_file():
            raise _field_error(
                "base_model", "use bundled:minilm, a hub id (org/name) or an absolute path to a model folder"
            )
    for name, (low, high) in CONFIG_RANGES.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _field_error(name, "must be a number")
        if not low <= value <= high:
            raise _field_error(name, f"must be between {low:g} and {high:g}")
    for name in ("use_margin", "dropout"):
        if not isinstance(getattr(config, name), bool):
            raise _field_error(name, "must be true or false")
    return TrainConfig(**{**config.as_dict(), "base_model": base})


def training_run_create(
    *,
    snapshot_id: int,
    config: TrainConfig,
    created_by: AbstractBaseUser | None,
    name: str = "",
    run_inline: bool = False,
) -> TrainingRun:
    """Validate and store a queued run on `snapshot_id` (one of `created_by`'s done snapshots; None: any,
    for the command line), then train it: inline when `run_inline` (and return it finished), otherwise
    a Celery task queued after commit.

    Raises ApplicationError (400) naming the field: `snapshot` when it is unknown to the user, not done,
    not a trainable format or has no train rows; a config field out of range. Nothing is stored then.
    """
    snapshots = DatasetSnapshot.objects.all() if created_by is None else snapshot_list_for_user(user=created_by)
    snapshot = snapshots.filter(pk=snapshot_id).first()
    if snapshot is None:
        raise _field_error("snapshot", f"no export with id {snapshot_id}")
    if snapshot.status != DatasetSnapshot.Status.DONE:
        raise _field_error("snapshot", f"export {snapshot.pk} is {snapshot.status}; train on a done export")
    if snapshot.export_format not in TRAINABLE_FORMATS:
        raise _field_error("snapshot", f"train from a {' or '.join(TRAINABLE_FORMATS)} export")
    if not (snapshot.counts or {}).get("rows", {}).get("train"):
        raise _field_error("snapshot", f"export {snapshot.pk} has no train rows")
    config = _validated_config(config)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            name=(name or "").strip()[:200], snapshot=snapshot, created_by=created_by, config=config.as_dict()
        )
        if not run_inline:
            from rewardmodel.tasks import train_reward_model

            run_id = run.pk
            transaction.on_commit(lambda: train_reward_model.delay(run_id))
    logger.info("training run created", extra={"run_id": run.pk, "snapshot_id": snapshot.pk, "inline": run_inline})
    if run_inline:
        run = training_run_execute(run=run)
    return run


def training_run_config(run: TrainingRun) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{key: value for key, value in run.config.items() if key in known})


def training_run_execute(*, run: TrainingRun, stop_after_steps: int | None = None) -> TrainingRun:
    """Train, evaluate and finish a queued run, or resume a running one whose worker died; return it.

    Idempotent: a done or failed run is returned unchanged; on PostgreSQL a session advisory lock on the
    run lets one executor through at a time (a second delivery returns at once; a killed worker's lock
    goes with its connection). The trainer resumes from `<run dir>/checkpoint/`; after MAX_ATTEMPTS
    starts the run is failed instead. Any error marks the run failed with the reason (no retry: training
    errors do not go away by themselves). `stop_after_steps` stops early and leaves the run running, as
    a killed worker would (for tests).
    """
    if run.status in (TrainingRun.Status.DONE, TrainingRun.Status.FAILED):
        return run
    with _run_lock(run.pk) as acquired:
        run.refresh_from_db()
        if not acquired or run.status in (TrainingRun.Status.DONE, TrainingRun.Status.FAILED):
            return run
        if run.attempts >= MAX_ATTEMPTS:
            _fail(run, f"Gave up after {run.attempts} attempts: the worker stopped each time before the end.")
            return run
        resuming = run.status == TrainingRun.Status.RUNNING
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.RUNNING,
            attempts=run.attempts + 1,
            started_at=run.started_at or timezone.now(),
            error="",
        )
        logger.info("training run started", extra={"run_id": run.pk, "resuming": resuming, "attempt": run.attempts + 1})
        try:
            finished = _train_and_evaluate(run, stop_after_steps=stop_after_steps)
        except Exception as exc:
            logger.exception("training run failed", extra={"run_id": run.pk})
            _fail(run, f"{type(exc).__name__}: {exc}")
        else:
            if finished:
                logger.info("training run done", extra={"run_id": run.pk})
        run.refresh_from_db()
        return run


def _fail(run: TrainingRun, reason: str) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.FAILED, error=reason[:5000], finished_at=timezone.now()
    )


def _run_lock(object_id: int) -> advisory_lock:
    """One holder at a time per object (see common.db.advisory_lock)."""
    return advisory_lock(RUN_LOCK_SPACE, object_id)


def snapshot_split_rows(*, snapshot: DatasetSnapshot, split: str) -> list[dict[str, Any]]:
    """The rows of one split of a TRL JSONL or Parquet snapshot ([] when the split has no file)."""
    suffix = ".parquet" if snapshot.export_format == "parquet" else ".jsonl"
    path = snapshot.directory / f"{split}{suffix}"
    if not path.is_file():
        return []
    if suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    return list(read_jsonl(path))


def snapshot_groups(*, snapshot: DatasetSnapshot, split: str, use_margin: bool) -> list[Group]:
    """A split's rows as trainer groups. Each row's `group` is its item id: the rows are given the item's
    batch and the flags its raters tagged, so the evaluation can report accuracy by batch and flag."""
    rows = snapshot_split_rows(snapshot=snapshot, split=split)
    item_ids = {row["group"] for row in rows if isinstance(row.get("group"), int)}
    batches = dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "batch_id"))
    flags: dict[int, set[str]] = {}
    for item_id, item_flags in (
        Judgement.objects.filter(item_id__in=item_ids).exclude(flags={}).values_list("item_id", "flags")
    ):
        for names in (item_flags or {}).values():
            flags.setdefault(item_id, set()).update(names)
    for row in rows:
        item_id = row.get("group")
        if item_id in batches:
            row["batch"] = batches[item_id]
            if item_id in flags:
                row["flags"] = sorted(flags[item_id])
    return build_groups(rows, use_margin=use_margin)


# Training ---------------------------------------------------------------------------------------------


class _ProgressRecorder:
    """The trainer's progress callback: keeps every step's loss and writes progress and a downsampled
    loss curve to the run at most once a second (each write its own short autocommitted UPDATE)."""

    def __init__(self, run: TrainingRun) -> None:
        self.run_id = run.pk
        # On resume the curve so far is kept; new steps are appended.
        self.curve: list[list[float]] = [list(point) for point in run.loss_curve or []]
        self._last = 0.0
        self._pending: dict[str, Any] | None = None

    def __call__(self, progress: dict[str, Any]) -> None:
        self.curve.append([progress["step"], progress["loss"]])
        self._pending = progress
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_S and progress["step"] < progress["total_steps"]:
            return
        self._last = now
        self.write(progress)

    def flush(self) -> None:
        """Write the latest progress if the last write skipped it."""
        if self._pending is not None:
            self.write(self._pending)

    def write(self, progress: dict[str, Any]) -> None:
        payload = {
            "step": progress["step"],
            "total_steps": progress["total_steps"],
            "epoch": progress.get("epoch"),
            "loss": progress["loss"],
            "pairs_per_second": _rounded(progress.get("pairs_per_second")),
            "updated_at": timezone.now().isoformat(),
        }
        self._pending = None
        try:
            TrainingRun.objects.filter(pk=self.run_id, status=TrainingRun.Status.RUNNING).update(
                progress=payload, loss_curve=downsample(self.curve, LOSS_CURVE_POINTS)
            )
        except DatabaseError:  # progress is best effort; the training goes on
            logger.warning("training progress not recorded", extra={"run_id": self.run_id}, exc_info=True)


def downsample(points: list[list[float]], limit: int) -> list[list[float]]:
    """At most `limit` [step, loss] points: the mean of consecutive buckets, at the bucket's last step."""
    if len(points) <= limit:
        return [list(p) for p in points]
    size = math.ceil(len(points) / limit)
    out = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        out.append([bucket[-1][0], round(sum(p[1] for p in bucket) / len(bucket), 5)])
    return out


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _train_and_evaluate(run: TrainingRun, *, stop_after_steps: int | None) -> bool:
    """Train (or resume), then evaluate and finish the run. False when stopped early."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardmodel.training.evaluation import evaluate
    from rewardmodel.training.trainer import score_groups, train

    config = training_run_config(run)
    snapshot = run.snapshot
    train_groups = snapshot_groups(snapshot=snapshot, split="train", use_margin=config.use_margin)
    if not train_groups:
        raise ApplicationError("The export has no train rows.", code="no_data")
    run.directory.mkdir(parents=True, exist_ok=True)
    recorder = _ProgressRecorder(run)
    started = time.perf_counter()
    summary = train(
        config=config,
        train_groups=train_groups,
        output_dir=run.directory,
        on_progress=recorder,
        stop_after_steps=stop_after_steps,
    )
    if summary.get("interrupted"):
        recorder.flush()
        return False
    test_groups = snapshot_groups(snapshot=snapshot, split="test", use_margin=config.use_margin)
    model = AutoModelForSequenceClassification.from_pretrained(run.model_directory)
    tokenizer = AutoTokenizer.from_pretrained(run.model_directory)
    rewards = score_groups(model, tokenizer, test_groups, max_length=config.max_length) if test_groups else []
    metrics = evaluate(test_groups, rewards)
    metrics["train_pairs"] = sum(len(g.pairs) for g in train_groups)
    metrics["test_groups"] = len(test_groups)
    losses = summary.get("losses") or []
    curve = downsample([[step + 1, loss] for step, loss in enumerate(losses)], LOSS_CURVE_POINTS)
    run_summary = {
        "steps": summary.get("step"),
        "total_steps": summary.get("total_steps"),
        "pairs": summary.get("pairs"),
        "pairs_per_second": _rounded(summary.get("pairs_per_second")),
        "train_seconds": _rounded(summary.get("seconds")),
        "wall_seconds_this_attempt": _rounded(time.perf_counter() - started),
        "final_loss": losses[-1] if losses else None,
    }
    write_run_card(run=run, metrics=metrics, summary=run_summary)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.DONE,
        metrics=metrics,
        summary=run_summary,
        loss_curve=curve,
        progress={**(run.progress or {}), **_final_progress(summary)},
        finished_at=timezone.now(),
    )
    return True


def _final_progress(summary: dict[str, Any]) -> dict[str, Any]:
    losses = summary.get("losses") or []
    return {
        "step": summary.get("step"),
        "total_steps": summary.get("total_steps"),
        "loss": losses[-1] if losses else None,
        "pairs_per_second": _rounded(summary.get("pairs_per_second")),
        "updated_at": timezone.now().isoformat(),
    }


def write_run_card(*, run: TrainingRun, metrics: dict[str, Any], summary: dict[str, Any]) -> None:
    """README.md (a model card) and run.json beside the weights in `<run dir>/model/`."""
    snapshot = run.snapshot
    card = {
        "run": run.pk,
        "name": run.name,
        "snapshot": {
            "id": snapshot.pk,
            "name": snapshot.name,
            "format": snapshot.export_format,
            "content_hash": snapshot.content_hash,
            "rows": (snapshot.counts or {}).get("rows"),
            "definition": snapshot.definition,
        },
        "config": run.config,
        "summary": summary,
        "metrics": metrics,
        "created_by": getattr(run.created_by, "username", None),
        "oversight_version": getattr(settings, "OVERSIGHT_VERSION", None),
    }
    directory = run.model_directory
    (directory / "run.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    accuracy = metrics.get("accuracy")
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [reward-model, rlhf, oversight]",
        "---",
        "",
        f"# Reward model {run.pk}{': ' + run.name if run.name else ''}",
        "",
        "A Bradley-Terry reward model (one scalar logit) trained by Oversight. Load it with",
        "`AutoModelForSequenceClassification.from_pretrained(path)` and `AutoTokenizer.from_pretrained(path)`;",
        "score a response as one text, the prompt, a space and the response:",
        '`model(**tokenizer(prompt + " " + response, return_tensors="pt")).logits[0, 0]`.',
        "",
        "## Data",
        f"- export snapshot {snapshot.pk} ({snapshot.export_format}), content hash `{snapshot.content_hash}`",
        f"- train pairs: {metrics.get('train_pairs')}, test pairs: {metrics.get('pairs')}",
        "",
        "## Training",
        *[f"- {key}: {value}" for key, value in sorted(run.config.items())],
        f"- steps: {summary.get('steps')}, pairs/s: {summary.get('pairs_per_second')}",
        "",
        "## Evaluation (test split)",
        f"- pairwise accuracy: {'n/a' if accuracy is None else f'{accuracy:.4f}'}",
        f"- mean reward margin: {metrics.get('mean_margin')}",
        "",
        "Full metrics: `run.json`.",
        "",
    ]
    (directory / "README.md").write_text("\n".join(lines))
