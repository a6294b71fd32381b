"""Preference dataset snapshots: define, build and keep an export (one service behind the API, the page and
`manage.py export_preferences`).

What a snapshot contains, in order of precedence per item:
1. an adjudication (an admin's final label), if the item has one;
2. the item's reference label (e.g. HH-RLHF's original preference), when `use_reference` is on;
3. the raters' judgements, each on its own (`aggregation="every"`) or by majority per response pair
   (`aggregation="majority"`), rules in `rewardmodel.preferences`.
Filters: only the selected projects/batches; `exclude_gold` drops quality-control items;
`min_rater_gold_accuracy` ignores every judgement of raters below it (accuracy over the gold items of
the selected projects; raters without a gold judgement have none and are ignored too); then, among the remaining judgements, `exclude_all_bad` drops items
any of them marked all bad, `exclude_flags` items any of them tagged with one of those flags, and
`min_item_agreement` items whose agreement is below it (items judged once have none and are dropped;
adjudicated and reference-labelled items are not subject to it). K-way rankings expand to every ordered
pair; `group` is the item id. Ties are dropped or kept (`ties`), margins come from strength or are 0.

Split: by prompt, so no prompt is in both splits. A prompt (context included) goes to test when
blake2b(seed, prompt) read as a number in [0, 1) is below `test_fraction`: the same prompt always lands
in the same split, whatever item it is on and whatever else is exported.

Content hash: sha256 of "oversight-export-v1\\n" + "train <rows> <digest>\\n" + "test <rows> <digest>\\n",
where a split's digest is the sha256 of its rows, each as compact JSON plus a newline (for JSONL: the
file itself). Rows are in item id order, then rater id, then tier order, so the same definition on
the same data gives the same hash, and a Parquet and a TRL JSONL snapshot of one definition hash alike.

Building streams rows from server-side cursors to files under MEDIA_ROOT/exports/, inside one REPEATABLE
READ transaction on PostgreSQL; small exports are built inline, large ones by a Celery task.
"""

import hashlib
import logging
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from common.db import advisory_lock
from common.exceptions import ApplicationError
from labeling.models import Batch, Judgement, Project
from labeling.selectors import project_list_for_user
from rewardmodel.card import render_card
from rewardmodel.formats import FORMATS, ExportFormat, ItemView, RowWriter
from rewardmodel.models import DatasetSnapshot
from rewardmodel.preferences import (
    Labelled,
    PreferencePair,
    Vote,
    item_agreement,
    majority_pairs,
    pairs_from_votes,
)
from rewardmodel.selectors import (
    ItemRecord,
    export_item_records,
    export_items,
    items_have_chat_prompts,
    rater_gold_accuracy,
)

logger = logging.getLogger(__name__)

AGGREGATIONS = ("every", "majority")
TIE_POLICIES = ("drop", "keep")
MARGIN_RULES = ("strength", "none")
SPLITS = ("train", "test")
HASH_VERSION = "oversight-export-v1"
LICENSE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}$")
# Exports over this many judgements go to a Celery worker; smaller ones are built in the request.
INLINE_MAX_JUDGEMENTS = getattr(settings, "OVERSIGHT_EXPORT_INLINE_MAX_JUDGEMENTS", 20_000)
PROGRESS_EVERY_S = 1.0
PROGRESS_ROWS = 10_000
WRITE_BATCH_ROWS = 512
# Advisory lock namespace (PostgreSQL): one builder per snapshot; a killed worker's lock dies with it.
SNAPSHOT_LOCK_SPACE = 0x5EA5


@dataclass(frozen=True)
class ExportDefinition:
    """Everything that decides an export's rows. Stored on the snapshot with every default filled in."""

    format: str = "trl-jsonl"
    projects: tuple[int, ...] = ()
    batches: tuple[int, ...] = ()
    exclude_gold: bool = False
    exclude_all_bad: bool = False
    exclude_flags: tuple[str, ...] = ()
    min_rater_gold_accuracy: float | None = None
    min_item_agreement: float | None = None
    aggregation: str = "every"
    ties: str = "drop"
    use_reference: bool = False
    margin: str = "strength"
    test_fraction: float = 0.1
    seed: int = 0
    license: str = "unknown"

    def as_dict(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExportDefinition":
        known = {f.name for f in fields(cls)}
        values = {
            key: tuple(value) if isinstance(value, list) else value for key, value in data.items() if key in known
        }
        return cls(**values)


@dataclass
class ExportResult:
    counts: dict[str, Any]
    stats: dict[str, Any]
    files: list[dict[str, Any]]
    content_hash: str


def _field_error(field_name: str, message: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", errors=[{"field": field_name, "message": message}])


def _validated(*, definition: ExportDefinition, user: AbstractBaseUser | None) -> ExportDefinition:
    """Check the definition against the registry and what `user` may see; return it normalised (sorted
    ids, the batches' projects added). Unknown or foreign projects and batches read the same: not found."""
    export_format = FORMATS.get(definition.format)
    if export_format is None:
        raise _field_error("format", f"unknown format {definition.format!r}; expected one of {', '.join(FORMATS)}")
    for name, allowed in (("aggregation", AGGREGATIONS), ("ties", TIE_POLICIES), ("margin", MARGIN_RULES)):
        if getattr(definition, name) not in allowed:
            raise _field_error(name, f"must be one of {', '.join(allowed)}")
    for name in ("min_rater_gold_accuracy", "min_item_agreement"):
        value = getattr(definition, name)
        if value is not None and not 0.0 <= value <= 1.0:
            raise _field_error(name, "must be between 0 and 1")
    if not 0.0 <= definition.test_fraction < 1.0:
        raise _field_error("test_fraction", "must be at least 0 and below 1")
    if not 0 <= definition.seed < 2**63:
        raise _field_error("seed", "must be a non-negative integer below 2**63")
    if not LICENSE_PATTERN.match(definition.license):
        raise _field_error("license", "use a license identifier such as mit, cc-by-4.0, other or unknown")
    visible = Project.objects.all() if user is None else project_list_for_user(user=user)
    project_ids = sorted(set(definition.projects))
    batch_ids = sorted(set(definition.batches))
    if not project_ids and not batch_ids:
        raise _field_error("projects", "choose at least one project or batch")
    projects = {p.pk: p for p in visible.filter(pk__in=project_ids)}
    missing = [pk for pk in project_ids if pk not in projects]
    if missing:
        raise _field_error("projects", f"no project with id {missing[0]}")
    batches = dict(Batch.objects.filter(pk__in=batch_ids, project__in=visible).values_list("pk", "project_id"))
    missing = [pk for pk in batch_ids if pk not in batches]
    if missing:
        raise _field_error("batches", f"no batch with id {missing[0]}")
    if project_ids and any(project_id not in projects for project_id in batches.values()):
        raise _field_error("batches", "every batch must belong to one of the chosen projects")
    all_projects = sorted(set(project_ids) | set(batches.values()))
    wrong_kind = Project.objects.filter(pk__in=all_projects).exclude(task_kind=export_format.task_kind)
    if wrong_kind.exists():
        raise _field_error(
            "format",
            f"{export_format.title} exports {export_format.task_kind} projects; project {wrong_kind[0].pk} is not one",
        )
    return ExportDefinition(
        **{
            **asdict(definition),
            "projects": tuple(all_projects),
            "batches": tuple(batch_ids),
            "exclude_flags": tuple(sorted(set(definition.exclude_flags))),
        }
    )


def _selected_batch_ids(definition: ExportDefinition) -> list[int]:
    if definition.batches:
        return list(definition.batches)
    return list(Batch.objects.filter(project_id__in=definition.projects).order_by("id").values_list("id", flat=True))


def snapshot_create(
    *,
    definition: ExportDefinition,
    created_by: AbstractBaseUser | None,
    name: str = "",
    run_inline: bool | None = None,
) -> DatasetSnapshot:
    """Validate `definition` against what `created_by` may see (None: everything, for the command line),
    store a queued snapshot, then build it: inline when `run_inline`, or when None and the selection has
    at most INLINE_MAX_JUDGEMENTS judgements; otherwise a Celery task queued after commit.

    Raises ApplicationError naming the field for an invalid definition; nothing is stored then.
    """
    definition = _validated(definition=definition, user=created_by)
    batch_ids = _selected_batch_ids(definition)
    judgements = Judgement.objects.filter(item__batch_id__in=batch_ids).count()
    with transaction.atomic():
        snapshot = DatasetSnapshot.objects.create(
            name=(name or "").strip()[:200],
            export_format=definition.format,
            definition=definition.as_dict(),
            created_by=created_by,
            judgements_total=judgements,
        )
        inline = run_inline if run_inline is not None else judgements <= INLINE_MAX_JUDGEMENTS
        if not inline:
            from rewardmodel.tasks import build_snapshot

            snapshot_id = snapshot.pk
            transaction.on_commit(lambda: build_snapshot.delay(snapshot_id))
    logger.info(
        "export snapshot created", extra={"snapshot_id": snapshot.pk, "judgements": judgements, "inline": inline}
    )
    if inline:
        snapshot = snapshot_build(snapshot=snapshot)
    return snapshot


def snapshot_build(*, snapshot: DatasetSnapshot, on_progress: Callable[[int], None] | None = None) -> DatasetSnapshot:
    """Build a queued (or failed) snapshot's files and record its counts and hash; return it.

    Idempotent: a done snapshot is returned unchanged (snapshots are immutable), and on PostgreSQL a
    session advisory lock on the snapshot lets one builder at a time through; a second one returns at
    once. Files are written to a private folder and renamed into place only when complete, so a worker
    killed mid-export leaves nothing behind but that folder, which the next attempt removes. A failure
    marks the snapshot failed (with the error) and re-raises.
    """
    if snapshot.status == DatasetSnapshot.Status.DONE:
        return snapshot
    with _builder_lock(snapshot.pk) as acquired:
        snapshot.refresh_from_db()
        if not acquired or snapshot.status == DatasetSnapshot.Status.DONE:
            return snapshot
        DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
            status=DatasetSnapshot.Status.RUNNING,
            started_at=timezone.now(),
            attempts=snapshot.attempts + 1,
            progress_rows=0,
            error="",
        )
        root = Path(settings.MEDIA_ROOT) / "exports"
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f".{snapshot.pk}-*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        partial = root / f".{snapshot.pk}-{uuid.uuid4().hex[:12]}.partial"
        partial.mkdir()
        progress = _ProgressWriter(snapshot.pk) if on_progress is None else on_progress
        try:
            definition = ExportDefinition.from_dict(snapshot.definition)
            started = time.perf_counter()
            result = _export(definition=definition, directory=partial, on_progress=progress)
            seconds = time.perf_counter() - started
            snapshot.refresh_from_db()
            (partial / "README.md").write_text(
                render_card(snapshot=snapshot, definition=definition.as_dict(), result=result), encoding="utf-8"
            )
            for path in partial.iterdir():
                path.chmod(0o444)
            if snapshot.directory.exists():  # renamed by an attempt that died before recording it
                shutil.rmtree(snapshot.directory)
            os.rename(partial, snapshot.directory)
            files = [*result.files, _file_entry(snapshot.directory / "README.md")]
            DatasetSnapshot.objects.filter(pk=snapshot.pk, status=DatasetSnapshot.Status.RUNNING).update(
                status=DatasetSnapshot.Status.DONE,
                finished_at=timezone.now(),
                counts=result.counts,
                stats=result.stats,
                files=files,
                content_hash=result.content_hash,
                progress_rows=sum(result.counts["rows"].values()),
            )
        except Exception as exc:
            shutil.rmtree(partial, ignore_errors=True)
            DatasetSnapshot.objects.filter(pk=snapshot.pk).update(
                status=DatasetSnapshot.Status.FAILED, finished_at=timezone.now(), error=str(exc)[:2000]
            )
            logger.exception("export snapshot failed", extra={"snapshot_id": snapshot.pk})
            raise
        finally:
            if isinstance(progress, _ProgressWriter):
                progress.close()
    snapshot.refresh_from_db()
    logger.info(
        "export snapshot built",
        extra={"snapshot_id": snapshot.pk, "rows": snapshot.total_rows, "seconds": round(seconds, 2)},
    )
    return snapshot


def _file_entry(path: Path) -> dict[str, Any]:
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _builder_lock(object_id: int) -> advisory_lock:
    """One holder at a time per object (see common.db.advisory_lock)."""
    return advisory_lock(SNAPSHOT_LOCK_SPACE, object_id)


class _ProgressWriter:
    """Records rows written so far on the snapshot, at most once a second, through a connection of its
    own: the export's read transaction stays open meanwhile, and the API must see progress before it
    ends. Only on PostgreSQL and only when the build is the outermost transaction (inside a caller's
    transaction the snapshot row is not visible to another connection)."""

    def __init__(self, snapshot_id: int) -> None:
        self.snapshot_id = snapshot_id
        self.enabled = connection.vendor == "postgresql" and not connection.in_atomic_block
        self._connection = None
        self._last = time.monotonic()

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        try:
            if self._connection is None:
                self._connection = connections.create_connection(DEFAULT_DB_ALIAS)
            with self._connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
                cursor.execute(
                    f"UPDATE {DatasetSnapshot._meta.db_table} SET progress_rows = %s WHERE id = %s AND status = %s",  # noqa: S608
                    [rows, self.snapshot_id, DatasetSnapshot.Status.RUNNING],
                )
        except Exception:  # progress is best effort; the export goes on
            logger.warning("export progress not recorded", extra={"snapshot_id": self.snapshot_id}, exc_info=True)
            self.enabled = False

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


# The export itself ------------------------------------------------------------------------------------


@dataclass
class _Tally:
    """Counts and distributions gathered while rows stream by (for the counts and the dataset card)."""

    rows: Counter = field(default_factory=Counter)
    items: Counter = field(default_factory=Counter)
    label_sources: Counter = field(default_factory=Counter)
    excluded: Counter = field(default_factory=Counter)
    strengths: Counter = field(default_factory=Counter)
    responses_per_item: Counter = field(default_factory=Counter)
    judgements_used: int = 0
    judgements_ignored_rater: int = 0
    tie_rows: int = 0
    chosen_first_rows: int = 0  # of the preference rows of two-response items: chosen is the first listed
    two_way_rows: int = 0
    margin_sum: float = 0.0
    agreement_sum: float = 0.0
    agreement_items: int = 0
    agreement_buckets: Counter = field(default_factory=Counter)


class _SplitWriters:
    """One writer per split, opened on its first row (an empty split has no file)."""

    def __init__(self, export_format: ExportFormat, directory: Path, conversational: bool) -> None:
        self.export_format = export_format
        self.directory = directory
        self.conversational = conversational
        self.writers: dict[str, RowWriter] = {}
        self.pending: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}

    def write(self, split: str, rows: list[dict[str, Any]]) -> None:
        pending = self.pending[split]
        pending.extend(rows)
        if len(pending) >= WRITE_BATCH_ROWS:
            self._flush(split)

    def _flush(self, split: str) -> None:
        pending = self.pending[split]
        if not pending:
            return
        writer = self.writers.get(split)
        if writer is None:
            path = self.directory / f"{split}{self.export_format.suffix}"
            writer = self.writers[split] = self.export_format.open_writer(path, self.conversational)
        writer.write(pending)
        pending.clear()

    def close(self) -> tuple[dict[str, tuple[int, str]], list[dict[str, Any]]]:
        digests: dict[str, tuple[int, str]] = {}
        files = []
        for split in SPLITS:
            self._flush(split)
            writer = self.writers.get(split)
            if writer is None:
                digests[split] = (0, hashlib.sha256().hexdigest())
                continue
            row_digest, file_digest = writer.close()
            digests[split] = (writer.rows, row_digest)
            path = self.directory / f"{split}{self.export_format.suffix}"
            files.append({"name": path.name, "bytes": path.stat().st_size, "sha256": file_digest, "rows": writer.rows})
        return digests, files


def exported_prompt(prompt: Any, context: str, *, conversational: bool) -> Any:
    """The prompt as written: the item's context (if any) goes first, separated by a blank line (in a
    chat, at the start of the first user turn); a text prompt in a conversational export becomes one
    user message."""
    if isinstance(prompt, list):
        if not context:
            return prompt
        messages = [dict(message) for message in prompt]
        first_user = next((m for m in messages if m["role"] == "user"), None)
        if first_user is None:
            return [{"role": "user", "content": context}, *messages]
        first_user["content"] = f"{context}\n\n{first_user['content']}"
        return messages
    text = f"{context}\n\n{prompt}" if context else prompt
    return [{"role": "user", "content": text}] if conversational else text


class PromptSplit:
    """'test' or 'train' for a prompt, from a seeded hash of the prompt alone (see the module docstring)."""

    def __init__(self, *, seed: int, test_fraction: float) -> None:
        self.test_fraction = test_fraction
        self._hasher = hashlib.blake2b(digest_size=8, salt=seed.to_bytes(8, "big"))

    def __call__(self, prompt: Any) -> str:
        if self.test_fraction <= 0.0:
            return "train"
        hasher = self._hasher.copy()
        hasher.update(prompt.encode() if isinstance(prompt, str) else orjson.dumps(prompt))
        return "test" if int.from_bytes(hasher.digest(), "big") / 2.0**64 < self.test_fraction else "train"


def _export(*, definition: ExportDefinition, directory: Path, on_progress: Callable[[int], None]) -> ExportResult:
    export_format = FORMATS.get(definition.format)
    if export_format is None:
        raise ApplicationError(f"Unknown export format {definition.format!r}.", code="unknown_format")
    batch_ids = _selected_batch_ids(definition)
    projects = {p.pk: p for p in Project.objects.filter(pk__in=definition.projects).only("id", "strength_labels")}
    strength_max = {
        pk: (project.strength_max if definition.margin == "strength" else 0) for pk, project in projects.items()
    }
    items = export_items(
        batch_ids=batch_ids, exclude_gold=definition.exclude_gold, with_reference=definition.use_reference
    )
    tally = _Tally()
    with _read_transaction():
        trusted_raters: set[int] | None = None
        raters_below = 0
        if definition.min_rater_gold_accuracy is not None:
            accuracy = rater_gold_accuracy(project_ids=definition.projects)
            trusted_raters = {
                rater for rater, acc in accuracy.items() if acc.accuracy >= definition.min_rater_gold_accuracy
            }
            raters_below = len(accuracy) - len(trusted_raters)
        if definition.exclude_gold:
            tally.excluded["gold"] = (
                export_items(batch_ids=batch_ids, exclude_gold=False, with_reference=definition.use_reference)
                .filter(gold__isnull=False)
                .count()
            )
        conversational = export_format.chat_aware and items_have_chat_prompts(items=items)
        writers = _SplitWriters(export_format, directory, conversational)
        try:
            _write_items(
                records=export_item_records(items=items),
                definition=definition,
                export_format=export_format,
                writers=writers,
                tally=tally,
                strength_max=strength_max,
                trusted_raters=trusted_raters,
                conversational=conversational,
                on_progress=on_progress,
            )
        finally:
            digests, files = writers.close()
    content_hash = hashlib.sha256(
        (
            HASH_VERSION + "\n" + "".join(f"{split} {rows} {digest}\n" for split, (rows, digest) in digests.items())
        ).encode()
    ).hexdigest()
    return ExportResult(
        counts=_counts(tally, batch_ids=batch_ids, raters_below=raters_below),
        stats=_stats(tally, conversational=conversational),
        files=files,
        content_hash=content_hash,
    )


class _read_transaction:  # noqa: N801 - used as a context manager
    """On PostgreSQL, one REPEATABLE READ READ ONLY transaction (when outermost) around the streaming read,
    so every cursor sees the same data and none is WITH HOLD. SQLite reads without one: a transaction
    there would hold the database's write lock for the whole export."""

    def __enter__(self) -> None:
        self.atomic = None
        if connection.vendor != "postgresql":
            return
        outermost = not connection.in_atomic_block
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        with connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # Sort wide rows in memory rather than on disk (server memory, per sort). The cursors keep
            # PostgreSQL's default fast-start planning: index-ordered scans stream from the first row
            # (measured faster here than planning for the whole result, which sorts everything first).
            cursor.execute("SET LOCAL work_mem = '32MB'")

    def __exit__(self, *exc_info: Any) -> None:
        if self.atomic is not None:
            self.atomic.__exit__(*exc_info)


def _write_items(
    *,
    records: Any,
    definition: ExportDefinition,
    export_format: ExportFormat,
    writers: _SplitWriters,
    tally: _Tally,
    strength_max: dict[int, int],
    trusted_raters: set[int] | None,
    conversational: bool,
    on_progress: Callable[[int], None],
) -> None:
    keep_ties = definition.ties == "keep"
    aggregate = majority_pairs if definition.aggregation == "majority" else pairs_from_votes
    excluded_flags = set(definition.exclude_flags)
    min_agreement = definition.min_item_agreement
    make_rows = export_format.rows
    needs_metadata = not export_format.chat_aware
    split_of = PromptSplit(seed=definition.seed, test_fraction=definition.test_fraction)
    written = 0
    report_at = PROGRESS_ROWS
    for record in records:
        label = _label(
            record,
            definition=definition,
            tally=tally,
            trusted_raters=trusted_raters,
            excluded_flags=excluded_flags,
            min_agreement=min_agreement,
        )
        if label is None:
            continue
        votes, source = label
        order = [response.response_id for response in record.responses]
        pairs: list[PreferencePair] = aggregate(
            votes, order=order, strength_max=strength_max.get(record.project_id, 0), keep_ties=keep_ties
        )
        if not pairs:
            tally.excluded["no_pairs"] += 1
            continue
        prompt = exported_prompt(record.prompt, record.context, conversational=conversational)
        split = split_of(prompt)
        view = ItemView(
            item_id=record.id,
            prompt=prompt,
            metadata=record.metadata,
            texts={response.response_id: response.text for response in record.responses},
            response_metadata=(
                {response.response_id: response.metadata or {} for response in record.responses}
                if needs_metadata
                else {}
            ),
        )
        rows = make_rows(view, pairs)
        writers.write(split, rows)
        written += len(rows)
        _tally_item(tally, split=split, source=source, votes=votes, pairs=pairs, order=order)
        if written >= report_at:
            on_progress(written)
            report_at = written + PROGRESS_ROWS


def _label(
    record: ItemRecord,
    *,
    definition: ExportDefinition,
    tally: _Tally,
    trusted_raters: set[int] | None,
    excluded_flags: set[str],
    min_agreement: float | None,
) -> tuple[Sequence[Labelled], str] | None:
    """The votes that label this item and where they come from, or None (and why, in the tally)."""
    judgements = record.judgements
    if trusted_raters is not None:
        kept = [j for j in judgements if j.rater_id in trusted_raters]
        tally.judgements_ignored_rater += len(judgements) - len(kept)
        judgements = kept
    if definition.exclude_all_bad and any(j.all_bad for j in judgements):
        tally.excluded["all_bad"] += 1
        return None
    if excluded_flags and any(
        not excluded_flags.isdisjoint(names) for j in judgements if j.flags for names in j.flags.values()
    ):
        tally.excluded["flags"] += 1
        return None
    if record.adjudication is not None:
        return [record.adjudication], "adjudication"
    if definition.use_reference and record.reference and record.reference.get("ranking"):
        return [Vote(record.reference["ranking"])], "reference"
    if not judgements:
        tally.excluded["rater_accuracy" if record.judgements else "unlabelled"] += 1
        return None
    agreement = item_agreement([j.ranking for j in judgements]) if len(judgements) > 1 else None
    if agreement is not None:
        tally.agreement_sum += agreement
        tally.agreement_items += 1
        tally.agreement_buckets[min(int(agreement * 5), 4)] += 1
    if min_agreement is not None and (agreement is None or agreement < min_agreement):
        tally.excluded["agreement"] += 1
        return None
    tally.judgements_used += len(judgements)
    return judgements, "judgements"


def _tally_item(
    tally: _Tally,
    *,
    split: str,
    source: str,
    votes: Sequence[Labelled],
    pairs: list[PreferencePair],
    order: list[str],
) -> None:
    tally.rows[split] += len(pairs)
    tally.items[split] += 1
    tally.label_sources[source] += 1
    tally.responses_per_item[len(order)] += 1
    for vote in votes:
        tally.strengths["tie" if len(vote.ranking) == 1 else (vote.strength or "none")] += 1
    first = order[0] if order else None
    for pair in pairs:
        tally.margin_sum += pair.margin
        if pair.tie:
            tally.tie_rows += 1
        elif len(order) == 2:
            tally.two_way_rows += 1
            tally.chosen_first_rows += pair.chosen == first


def _counts(tally: _Tally, *, batch_ids: list[int], raters_below: int) -> dict[str, Any]:
    return {
        "rows": {split: tally.rows[split] for split in SPLITS},
        "items": {split: tally.items[split] for split in SPLITS},
        "batches": batch_ids,
        "judgements_used": tally.judgements_used,
        "judgements_ignored_low_accuracy": tally.judgements_ignored_rater,
        "raters_below_accuracy": raters_below,
        "label_sources": dict(sorted(tally.label_sources.items())),
        "excluded_items": {reason: count for reason, count in sorted(tally.excluded.items()) if count},
    }


def _stats(tally: _Tally, *, conversational: bool) -> dict[str, Any]:
    rows = tally.rows.total()
    bucket_names = ["0.0-0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8-1.0"]
    return {
        "conversational": conversational,
        "agreement": {
            "items": tally.agreement_items,
            "mean": round(tally.agreement_sum / tally.agreement_items, 4) if tally.agreement_items else None,
            "histogram": {name: tally.agreement_buckets[index] for index, name in enumerate(bucket_names)},
        },
        "strengths": {str(key): count for key, count in sorted(tally.strengths.items(), key=lambda kv: str(kv[0]))},
        "tie_rows": tally.tie_rows,
        "mean_margin": round(tally.margin_sum / rows, 4) if rows else None,
        "chosen_first_share": (round(tally.chosen_first_rows / tally.two_way_rows, 4) if tally.two_way_rows else None),
        "responses_per_item": {str(k): v for k, v in sorted(tally.responses_per_item.items())},
    }
