"""Batch import: one service behind the management command, the API and the admin upload page.

The whole file is validated before anything is written; a file with any bad line stores nothing.
Writes go in one transaction; on PostgreSQL rows are streamed with COPY (ids taken from the sequence
up front), elsewhere with bulk_create.
"""

import gc
import gzip
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import orjson
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction

from assist.services.generation import assist_schedule_batch
from common.exceptions import ApplicationError, PayloadTooLarge
from labeling.models import AssistanceMode, Batch, Item, Project, Response
from labeling.services.import_format import ImportLimits, ParsedItem, parse_chunk

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"


def import_limits() -> ImportLimits:
    return ImportLimits(
        max_line_bytes=settings.OVERSIGHT_IMPORT_MAX_LINE_BYTES,
        max_responses=settings.OVERSIGHT_IMPORT_MAX_RESPONSES,
    )


def batch_import(
    *,
    project: Project,
    stream: IO[bytes],
    name: str,
    created_by: AbstractBaseUser | None = None,
    priority: int = 0,
    status: str = Batch.Status.LIVE,
    source_filename: str = "",
) -> Batch:
    """Validate a JSONL (or gzipped JSONL) stream completely, then store it as one new batch.

    Raises PayloadTooLarge (413) when the file, after decompression, exceeds
    OVERSIGHT_IMPORT_MAX_FILE_BYTES, and ApplicationError with `errors=[{"line", "field",
    "message"}]` when any line is invalid. In both cases nothing is stored.
    """
    name = (name or "").strip()
    if not name:
        raise ApplicationError(
            "The batch needs a name.", errors=[{"line": None, "field": "name", "message": "required"}]
        )
    if status not in Batch.Status.values:
        raise ApplicationError(
            f"Unknown batch status {status!r}.", errors=[{"line": None, "field": "status", "message": "invalid"}]
        )
    items = _parse_stream(stream, limits=import_limits(), project_kind=project.task_kind)
    batch = _batch_store(
        project=project,
        items=items,
        name=name,
        created_by=created_by,
        priority=priority,
        status=status,
        source_filename=source_filename,
    )
    logger.info("batch imported", extra={"batch_id": batch.pk, "project_id": project.pk, "items": len(items)})
    return batch


def _parse_stream(stream: IO[bytes], *, limits: ImportLimits, project_kind: str) -> list[ParsedItem]:
    """Read and validate every line; return the parsed items of a valid file."""
    max_errors = settings.OVERSIGHT_IMPORT_MAX_ERRORS
    lines = [
        (line_no, raw)
        for line_no, raw in _lines(
            stream, max_bytes=settings.OVERSIGHT_IMPORT_MAX_FILE_BYTES, max_line=limits.max_line_bytes
        )
        if raw.strip()
    ]
    with _gc_paused():
        parsed, line_errors = parse_chunk(lines, project_kind, limits)
    del lines
    items: list[ParsedItem] = []
    first_line_of_id: dict[str, int] = {}
    for line_no, item in parsed:
        previous = first_line_of_id.setdefault(item.external_id, line_no)
        if previous != line_no:
            line_errors.append((line_no, "id", f"duplicate id '{item.external_id}' (first on line {previous})"))
        items.append(item)
    if line_errors:
        line_errors.sort(key=lambda error: error[0])
        errors = [{"line": n, "field": f, "message": m} for n, f, m in line_errors[:max_errors]]
        more = f" (showing the first {len(errors)})" if len(line_errors) > len(errors) else ""
        count = len(line_errors)
        raise ApplicationError(
            f"{count} invalid line{'s' if count != 1 else ''}{more}; nothing was imported.",
            code="invalid_file",
            errors=errors,
        )
    if not items:
        raise ApplicationError(
            "The file contains no items.",
            code="invalid_file",
            errors=[{"line": None, "field": "file", "message": "empty file"}],
        )
    return items


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing builds millions of small acyclic objects; the cyclic GC would re-walk them all again and
    again (a 100k-line file parses ~1.6x faster without it). Reference counting still frees them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _lines(stream: IO[bytes], *, max_bytes: int, max_line: int) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, raw line) from a plain or gzipped stream, enforcing the size limits.

    A line longer than the limit is yielded truncated to limit + 1 bytes so it is reported, not buffered.
    """
    head = stream.read(2)
    rest: IO[bytes] = io.BufferedReader(_Prefixed(head, stream))  # type: ignore[arg-type]
    source: IO[bytes] = gzip.GzipFile(fileobj=rest) if head == GZIP_MAGIC else rest
    total = 0
    line_no = 0
    try:
        while True:
            raw = source.readline(max_line + 1)
            if not raw:
                return
            total += len(raw)
            if total > max_bytes:
                raise PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes.")
            line_no += 1
            if len(raw) > max_line and not raw.endswith(b"\n"):
                # Skip the remainder of the oversized line without holding it in memory.
                while True:
                    more = source.readline(1024 * 1024)
                    total += len(more)
                    if total > max_bytes:
                        raise PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes.")
                    if not more or more.endswith(b"\n"):
                        break
            yield line_no, raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ApplicationError(
            f"The file could not be read: {exc}",
            code="invalid_file",
            errors=[{"line": line_no + 1, "field": "file", "message": "corrupt gzip data"}],
        ) from None


class _Prefixed(io.RawIOBase):
    """A raw stream that yields `prefix` and then the rest of `stream` (to sniff the gzip magic)."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@transaction.atomic
def _batch_store(
    *,
    project: Project,
    items: list[ParsedItem],
    name: str,
    created_by: AbstractBaseUser | None,
    priority: int,
    status: str,
    source_filename: str,
) -> Batch:
    batch = Batch.objects.create(
        project=project,
        name=name[:200],
        status=status,
        priority=priority,
        item_count=len(items),
        source_filename=source_filename[:255],
        created_by=created_by,
    )
    with _gc_paused():
        if connection.vendor == "postgresql":
            _copy_rows(batch, items)
        else:
            _bulk_create_rows(batch, items)
    if connection.vendor == "postgresql":
        # Fresh planner statistics for the serving queries, without waiting for autovacuum (which may
        # be off, or slow to notice a bulk COPY); runs on a worker after commit.
        from labeling.tasks import analyze_items

        transaction.on_commit(analyze_items.delay)
    if settings.OVERSIGHT_ASSIST_ON_IMPORT and project.assistance_mode != AssistanceMode.OFF:
        assist_schedule_batch(batch=batch)  # after commit: a rolled-back import queues nothing
    return batch


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def _copy_rows(batch: Batch, items: list[ParsedItem]) -> None:
    """COPY items, then their responses. Ids come from the sequence up front so responses can
    reference their items without a round trip."""
    dumps = _dumps
    item_table, response_table = Item._meta.db_table, Response._meta.db_table
    response_rows: list[tuple] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [item_table, len(items)],
        )
        ids = [row[0] for row in cursor.fetchall()]
        raw = cursor.connection.cursor()
        item_columns = (
            "id, batch_id, external_id, kind, prompt, context, metadata, gold, reference, judgement_count, lease_count"
        )
        with raw.copy(f"COPY {item_table} ({item_columns}) FROM STDIN") as copy:
            for item_id, item in zip(ids, items, strict=True):
                copy.write_row(
                    (
                        item_id,
                        batch.pk,
                        item.external_id,
                        item.kind,
                        dumps(item.prompt),
                        item.context,
                        dumps(item.metadata),
                        None if item.gold is None else dumps(item.gold),
                        None if item.reference is None else dumps(item.reference),
                        0,
                        0,
                    )
                )
                for response in item.responses:
                    response_rows.append(
                        (
                            item_id,
                            response.response_id,
                            response.position,
                            response.text,
                            None if response.steps is None else dumps(response.steps),
                            response.model_name,
                            dumps(response.metadata),
                        )
                    )
        response_columns = "item_id, response_id, position, text, steps, model_name, metadata"
        with raw.copy(f"COPY {response_table} ({response_columns}) FROM STDIN") as copy:
            for row in response_rows:
                copy.write_row(row)


def _bulk_create_rows(batch: Batch, items: list[ParsedItem]) -> None:
    created = Item.objects.bulk_create(
        [
            Item(
                batch=batch,
                external_id=item.external_id,
                kind=item.kind,
                prompt=item.prompt,
                context=item.context,
                metadata=item.metadata,
                gold=item.gold,
                reference=item.reference,
            )
            for item in items
        ],
        batch_size=500,
    )
    Response.objects.bulk_create(
        [
            Response(
                item=row,
                response_id=response.response_id,
                position=response.position,
                text=response.text,
                steps=response.steps,
                model_name=response.model_name,
                metadata=response.metadata,
            )
            for row, item in zip(created, items, strict=True)
            for response in item.responses
        ],
        batch_size=1000,
    )
