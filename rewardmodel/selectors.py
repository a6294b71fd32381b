"""Reads for dataset exports. Snapshots are private to their creator (superusers see all): to anyone else
a snapshot does not exist (404).

Quality measures the export filters on, with the same rules as the quality dashboard
(`labeling.metrics`; per item here, see `rewardmodel.preferences`):
- rater gold accuracy: over a rater's judgements on gold items, the share whose top tier equals the
  gold's top tier (over all their gold judgements, not the dashboard's running score, which restarts
  when a suspended rater is reinstated);
- item agreement: over pairs of judgements and pairs of responses, the share ordered the same way.
"""

import contextlib
import functools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from django.contrib.auth.models import AbstractBaseUser
from django.db import connections
from django.db.models import CharField, Func, Q, QuerySet
from django.shortcuts import get_object_or_404

from labeling.metrics import gold_correct
from labeling.models import Item, Judgement, Response, TaskKind
from rewardmodel.models import DatasetSnapshot
from rewardmodel.preferences import Vote, item_agreement

STREAM_CHUNK_ROWS = 2_000
READ_AHEAD_CHUNKS = 2


def snapshot_list_for_user(*, user: AbstractBaseUser) -> QuerySet[DatasetSnapshot]:
    if user.is_superuser:
        return DatasetSnapshot.objects.all()
    return DatasetSnapshot.objects.filter(created_by=user)


def snapshot_get_for_user(*, user: AbstractBaseUser, snapshot_id: int) -> DatasetSnapshot:
    return get_object_or_404(snapshot_list_for_user(user=user), pk=snapshot_id)


@dataclass(frozen=True, slots=True)
class GoldAccuracy:
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def rater_gold_accuracy(*, project_ids: Iterable[int]) -> dict[int, GoldAccuracy]:
    """{rater id: GoldAccuracy} over the raters' judgements on gold items of these projects.

    A judgement is correct when its top tier holds exactly the gold ranking's top-tier responses (ties
    included: a gold tie at the top expects the same tie). Raters without a gold judgement are absent.
    """
    counts: dict[int, list[int]] = {}
    rows = (
        Judgement.objects.filter(project_id__in=list(project_ids), item__gold__isnull=False, ranking__isnull=False)
        .values_list("rater_id", "ranking", "item__gold")
        .order_by()
        .iterator(chunk_size=STREAM_CHUNK_ROWS)
    )
    for rater_id, ranking, gold in rows:
        tally = counts.setdefault(rater_id, [0, 0])
        tally[0] += bool(gold_correct(TaskKind.COMPARISON, {"ranking": ranking}, gold))
        tally[1] += 1
    return {rater_id: GoldAccuracy(correct, total) for rater_id, (correct, total) in counts.items()}


def item_agreement_many(*, item_ids: Iterable[int]) -> dict[int, float | None]:
    """{item id: agreement} among all judgements of each item; None for items judged fewer than twice."""
    rankings: dict[int, list] = {pk: [] for pk in item_ids}
    judgements = Judgement.objects.filter(item_id__in=list(rankings), ranking__isnull=False)
    for item_id, ranking in judgements.values_list("item_id", "ranking"):
        rankings[item_id].append(ranking)
    return {item_id: item_agreement(values) for item_id, values in rankings.items()}


# The export's streaming read --------------------------------------------------------------------------


class JudgementRow(NamedTuple):
    item_id: int
    rater_id: int
    ranking: list[list[str]]
    strength: int | None
    all_bad: bool
    flags: dict[str, list[str]]


class ResponseRow(NamedTuple):
    item_id: int
    response_id: str
    text: str
    metadata: dict[str, Any]


class ItemRecord(NamedTuple):
    id: int
    project_id: int
    prompt: str | list[dict[str, str]]
    context: str
    metadata: dict[str, Any]
    reference: dict[str, Any] | None
    adjudication: Vote | None
    responses: list[ResponseRow]  # in import order
    judgements: list[JudgementRow]  # by rater id


class _JsonType(Func):
    """The JSON type of a value: 'array', 'object', 'string' (SQLite: 'text'), ..."""

    function = "jsonb_typeof"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):  # type: ignore[no-untyped-def]
        return self.as_sql(compiler, connection, function="json_type", **extra_context)


def export_items(*, batch_ids: Iterable[int], exclude_gold: bool, with_reference: bool) -> QuerySet[Item]:
    """The items of an export's selection that carry a label: a judgement (the judgement_count the
    judgement service keeps under the item's row lock), an adjudication or, when reference labels are
    used, a reference."""
    labelled = Q(judgement_count__gt=0) | Q(adjudication__isnull=False)
    if with_reference:
        labelled |= Q(reference__isnull=False)
    items = Item.objects.filter(batch_id__in=list(batch_ids)).filter(labelled)
    if exclude_gold:
        items = items.filter(gold__isnull=True)
    return items


def items_have_chat_prompts(*, items: QuerySet[Item]) -> bool:
    return items.annotate(prompt_type=_JsonType("prompt")).filter(prompt_type="array").exists()


def export_item_records(*, items: QuerySet[Item], chunk_size: int = STREAM_CHUNK_ROWS) -> Iterator[ItemRecord]:
    """Stream the items with their responses and judgements, one item at a time, in item id order.

    Three queries (items, responses, judgements), each ordered by item id and read through its own
    server-side cursor (a named cursor on PostgreSQL) `chunk_size` rows at a time, merged here by item id.
    Memory holds a couple of chunks of each stream and one item, however large the selection. On
    PostgreSQL call it inside a transaction (REPEATABLE READ) so the cursors are not WITH HOLD and the
    three streams see the same data. Rankings and flags are shared between rows: treat them as read-only.
    """
    selected = items.values("pk")
    loads = orjson.loads
    # Rankings, flags and most metadata are a handful of distinct short texts ('[["a"], ["b"]]', '{}'):
    # each is decoded once. The values are shared between rows and must not be changed.
    small_json = functools.lru_cache(maxsize=4096)(orjson.loads)
    item_query = items.order_by("id").values_list(
        "id",
        "batch__project_id",
        "prompt",
        "context",
        "metadata",
        "reference",
        "adjudication__ranking",
        "adjudication__strength",
    )
    responses = _ItemGroups(
        _chunks(
            Response.objects.filter(item_id__in=selected)
            .order_by("item_id", "position")
            .values_list("item_id", "response_id", "text", "metadata"),
            chunk_size,
        ),
        lambda chunk: [ResponseRow(i, rid, text, small_json(meta)) for i, rid, text, meta in chunk],
    )
    judgements = _ItemGroups(
        _chunks(
            Judgement.objects.filter(item_id__in=selected, ranking__isnull=False)
            .order_by("item_id", "rater_id")  # the order of the (item, rater) unique index: no sort
            .values_list("item_id", "rater_id", "ranking", "strength", "all_bad", "flags"),
            chunk_size,
        ),
        lambda chunk: [
            JudgementRow(i, rater, small_json(ranking), strength, all_bad, small_json(flags))
            for i, rater, ranking, strength, all_bad, flags in chunk
        ],
    )
    for chunk in _chunks(item_query, chunk_size):
        for item_id, project_id, prompt, context, metadata, reference, adj_ranking, adj_strength in chunk:
            yield ItemRecord(
                item_id,
                project_id,
                loads(prompt),
                context,
                small_json(metadata) if metadata else {},
                None if reference is None else loads(reference),
                None if adj_ranking is None else Vote(loads(adj_ranking), adj_strength),
                responses.take(item_id),
                judgements.take(item_id),
            )


class _ItemGroups:
    """A stream of rows ordered by item id (first column), handed out one item's rows at a time."""

    def __init__(self, chunks: Iterator[list[tuple]], decode: Callable[[list[tuple]], list]) -> None:
        self._chunks = chunks
        self._decode = decode
        self._rows: list = []
        self._position = 0

    def take(self, item_id: int) -> list:
        """The rows of `item_id`, skipping rows of smaller ids; ids must be asked for in ascending order."""
        taken = []
        while True:
            rows, position = self._rows, self._position
            end = len(rows)
            while position < end:
                row = rows[position]
                if row[0] > item_id:
                    self._position = position
                    return taken
                if row[0] == item_id:
                    taken.append(row)
                position += 1
            chunk = next(self._chunks, None)
            if chunk is None:
                self._rows, self._position = [], 0
                return taken
            self._rows, self._position = self._decode(chunk), 0


def _chunks(queryset: QuerySet, chunk_size: int) -> Iterator[list[tuple]]:
    """The rows of a values_list queryset from a server-side cursor, `chunk_size` rows a fetch.

    What `.iterator(chunk_size)` does, minus its per-row converters (the callers decode JSON columns,
    text on both backends, with orjson: several times faster than Django's json.loads, which counts at a
    million rows), plus read-ahead on PostgreSQL: a helper thread fetches the next chunks while this one
    is processed, so the database works on its own core at the same time.
    """
    connection = connections[queryset.db]
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            yield from _read_ahead(lambda: cursor.fetchmany(chunk_size))
        else:
            while rows := cursor.fetchmany(chunk_size):
                yield rows


_END = object()


def _read_ahead(fetch: Callable[[], list], depth: int = READ_AHEAD_CHUNKS) -> Iterator[list]:
    """Yield fetch() results until an empty one, with a thread calling fetch() up to `depth` results
    ahead. The database driver waits for the server without the GIL, so the server's work overlaps
    ours. Errors in the thread are raised here; closing the generator stops the thread before returning
    (the caller then closes the cursor)."""
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump() -> None:
        try:
            while not stop.is_set():
                rows = fetch()
                results.put(rows if rows else _END)
                if not rows:
                    return
        except BaseException as exc:  # handed to the consumer
            results.put(exc)

    thread = threading.Thread(target=pump, name="export-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            rows = results.get()
            if rows is _END:
                return
            if isinstance(rows, BaseException):
                raise rows
            yield rows
    finally:
        stop.set()
        while thread.is_alive():  # drain, so a pump blocked on a full queue can finish
            with contextlib.suppress(queue.Empty):
                results.get_nowait()
            thread.join(timeout=0.01)
