"""The export format registry: how one labelled item becomes rows, and how rows become a file.

A format names the task kind whose labels it exports (comparison today; critique JSONL and PRM800K step
labels register here with their own row builders once those judgements exist), builds the rows of one
item, and opens a writer per split. Writers stream: a JSONL writer appends each row to the file, the
Parquet writer holds at most one row group.

Every writer also hashes its rows the same way, whatever the file: the sha256 of each row as compact
JSON (keys in the format's column order) plus a newline. For a JSONL file that is exactly the file's
bytes; a Parquet file with the same rows gets the same digest. The snapshot's content hash is built from
these digests.
"""

import hashlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from labeling.models import TaskKind
from labeling.services.import_format import hh_transcript
from rewardmodel.preferences import PreferencePair

# About 6 MB of text a row group: big enough for readers, small enough to keep the writer's memory flat.
PARQUET_ROW_GROUP_ROWS = 4_096
FILE_BUFFER_BYTES = 1 << 20
_dumps = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE


@dataclass(slots=True)
class ItemView:
    """One item as the formats see it: the prompt to write, the raw fields, and its responses."""

    item_id: int
    prompt: Any  # the exported prompt (context merged in): text, or chat messages
    metadata: dict[str, Any]
    texts: dict[str, str]  # response id -> text
    response_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


class RowWriter(Protocol):
    rows: int

    def write(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def close(self) -> tuple[str, str]:
        """Finish the file; return (row digest, file sha256)."""
        ...


@dataclass(frozen=True)
class ExportFormat:
    name: str
    title: str
    task_kind: str
    suffix: str
    columns: tuple[str, ...]
    description: str
    # Rows of one item from its preference pairs.
    rows: Callable[[ItemView, Sequence[PreferencePair]], list[dict[str, Any]]]
    # Opens a writer for one split's file: (path, conversational) -> writer.
    open_writer: Callable[[Path, bool], RowWriter]
    # Whether chat prompts are written as message lists (TRL's conversational format).
    chat_aware: bool = True


FORMATS: dict[str, ExportFormat] = {}


def register_format(export_format: ExportFormat) -> ExportFormat:
    FORMATS[export_format.name] = export_format
    return export_format


def format_choices() -> list[tuple[str, str]]:
    return [(f.name, f.title) for f in FORMATS.values()]


# Writers ---------------------------------------------------------------------------------------------


class _Offload:
    """Runs a writer's GIL-free work (hashing, compressing, writing to disk) in one helper thread, in
    order, at most `depth` jobs behind; the caller goes on building the next rows meanwhile. Errors come
    back on the next submit or on finish."""

    def __init__(self, depth: int = 4) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-writer")
        self._pending: deque[Future] = deque()
        self._depth = depth

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(job, *args))

    def finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._executor.shutdown(wait=True)


class JsonlWriter:
    """One JSON object a line, appended as rows come; the file's bytes are the hashed bytes."""

    def __init__(self, path: Path, conversational: bool = False) -> None:
        self.path = path
        self.rows = 0
        self._file = path.open("wb", buffering=FILE_BUFFER_BYTES)
        self._digest = hashlib.sha256()
        self._offload = _Offload()

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self._offload.submit(self._store, b"".join([_dumps(row, option=_NEWLINE) for row in rows]))
        self.rows += len(rows)

    def _store(self, data: bytes) -> None:
        self._digest.update(data)
        self._file.write(data)

    def close(self) -> tuple[str, str]:
        try:
            self._offload.finish()
        finally:
            self._file.close()
        digest = self._digest.hexdigest()
        return digest, digest


def _messages_type() -> pa.DataType:
    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


class ParquetPreferenceWriter:
    """The preference columns in Parquet, one row group per PARQUET_ROW_GROUP_ROWS rows."""

    def __init__(self, path: Path, conversational: bool = False) -> None:
        text = _messages_type() if conversational else pa.string()
        self.schema = pa.schema(
            [("prompt", text), ("chosen", text), ("rejected", text), ("margin", pa.float64()), ("group", pa.int64())]
        )
        self.path = path
        self.rows = 0
        # No dictionary encoding or statistics for the text columns: their values are (nearly) all distinct,
        # and trying a dictionary costs several times the rest of the write.
        self._writer = pq.ParquetWriter(
            path,
            self.schema,
            compression="snappy",
            use_dictionary=["margin", "group"],
            write_statistics=["margin", "group"],
        )
        self._columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self._row_json: list[bytes] = []
        self._buffered = 0
        self._digest = hashlib.sha256()
        # One row group is written while the next is built; never more than one waits: memory stays flat.
        self._offload = _Offload(depth=1)

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        columns = self._columns
        for name, values in columns.items():
            values.extend([row[name] for row in rows])
        self._row_json.append(b"".join([_dumps(row, option=_NEWLINE) for row in rows]))
        self._buffered += len(rows)
        self.rows += len(rows)
        if self._buffered >= PARQUET_ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        table = pa.Table.from_pydict(self._columns, schema=self.schema)
        self._offload.submit(self._write_group, table, self._row_json)
        self._columns = {name: [] for name in self.schema.names}
        self._row_json = []
        self._buffered = 0

    def _write_group(self, table: pa.Table, row_json: list[bytes]) -> None:
        for chunk in row_json:
            self._digest.update(chunk)
        self._writer.write_table(table, row_group_size=table.num_rows)
        # Arrow's allocator keeps freed row groups for reuse; handing them back keeps the peak ~50 MB lower.
        pa.default_memory_pool().release_unused()

    def close(self) -> tuple[str, str]:
        try:
            self._flush()
            self._offload.finish()
        finally:
            self._writer.close()
        return self._digest.hexdigest(), file_sha256(self.path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(FILE_BUFFER_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def iter_file(path: Path, chunk_size: int = FILE_BUFFER_BYTES) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(chunk_size):
            yield chunk


# Comparison formats ----------------------------------------------------------------------------------


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def preference_rows(item: ItemView, pairs: Sequence[PreferencePair]) -> list[dict[str, Any]]:
    """TRL / OpenRLHF preference rows: explicit prompt, chosen, rejected, margin, and the item as group.
    A conversational prompt gets its completions as assistant messages (TRL's conversational format)."""
    texts, prompt, group = item.texts, item.prompt, item.item_id
    if isinstance(prompt, list):
        return [
            {
                "prompt": prompt,
                "chosen": _assistant(texts[pair.chosen]),
                "rejected": _assistant(texts[pair.rejected]),
                "margin": pair.margin,
                "group": group,
            }
            for pair in pairs
        ]
    return [
        {
            "prompt": prompt,
            "chosen": texts[pair.chosen],
            "rejected": texts[pair.rejected],
            "margin": pair.margin,
            "group": group,
        }
        for pair in pairs
    ]


def hh_rows(item: ItemView, pairs: Sequence[PreferencePair]) -> list[dict[str, Any]]:
    """HH-RLHF transcripts, rebuilt exactly as an HH-RLHF import stored them."""
    prompt = item.prompt

    def transcript(response_id: str) -> str:
        return hh_transcript(prompt, item.metadata, item.texts[response_id], item.response_metadata[response_id])

    return [{"chosen": transcript(pair.chosen), "rejected": transcript(pair.rejected)} for pair in pairs]


PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected", "margin", "group")

register_format(
    ExportFormat(
        name="trl-jsonl",
        title="TRL / OpenRLHF preference JSONL",
        task_kind=TaskKind.COMPARISON,
        suffix=".jsonl",
        columns=PREFERENCE_COLUMNS,
        description=(
            "One JSON object a line: `prompt`, `chosen`, `rejected`, `margin`, `group`. Chat prompts are "
            "message lists and the completions single assistant messages (TRL's conversational format); "
            "text prompts and completions are the texts exactly as imported."
        ),
        rows=preference_rows,
        open_writer=JsonlWriter,
    )
)
register_format(
    ExportFormat(
        name="parquet",
        title="Parquet (TRL columns)",
        task_kind=TaskKind.COMPARISON,
        suffix=".parquet",
        columns=PREFERENCE_COLUMNS,
        description=(
            "The TRL / OpenRLHF columns in Parquet (snappy); loads with "
            '`datasets.load_dataset("parquet", data_files=...)`.'
        ),
        rows=preference_rows,
        open_writer=ParquetPreferenceWriter,
    )
)
register_format(
    ExportFormat(
        name="hh-rlhf",
        title="HH-RLHF transcripts JSONL",
        task_kind=TaskKind.COMPARISON,
        suffix=".jsonl",
        columns=("chosen", "rejected"),
        description=(
            'Anthropic HH-RLHF style: `{"chosen", "rejected"}`, each the whole transcript '
            '("\\n\\nHuman: ...\\n\\nAssistant: ...") ending in that response.'
        ),
        rows=hh_rows,
        open_writer=JsonlWriter,
        chat_aware=False,
    )
)
