"""Reward scores as downloadable files: JSONL, or CSV safe to open in a spreadsheet.

CSV cells holding text from imports (item and response ids, model names) that start with `=`, `+`,
`-`, `@`, a tab or a carriage return are prefixed with `'`, so a spreadsheet shows them as text instead
of running them as formulas (OWASP "CSV injection"). Scores are numbers written by us and stay numbers.
"""

import csv
import io
from collections.abc import Iterable, Iterator

import orjson

from rewardmodel.selectors import ScoreRow

SCORE_FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("item_id", "external_id", "response_id", "model", "score")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
LINES_PER_CHUNK = 500


def csv_safe(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def jsonl_chunks(rows: Iterable[ScoreRow], *, run_id: int) -> Iterator[bytes]:
    lines: list[bytes] = []
    for row in rows:
        lines.append(
            orjson.dumps(
                {
                    "run": run_id,
                    "item_id": row.item_id,
                    "external_id": row.external_id,
                    "response_id": row.response_id,
                    "model": row.model,
                    "score": row.score,
                },
                option=orjson.OPT_APPEND_NEWLINE,
            )
        )
        if len(lines) >= LINES_PER_CHUNK:
            yield b"".join(lines)
            lines = []
    if lines:
        yield b"".join(lines)


def csv_chunks(rows: Iterable[ScoreRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(
            [row.item_id, csv_safe(row.external_id), csv_safe(row.response_id), csv_safe(row.model), repr(row.score)]
        )
        if count % LINES_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
