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
import heapq
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
from labeling.selectors import project_list_for_user
from rewardmodel.models import BatchScoring, DatasetSnapshot, ResponseScore, TrainingRun
from rewardmodel.preferences import Vote, item_agreement, majority_pairs, tier_of

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


# Reward models -----------------------------------------------------------------------------------------
#
# A training run is private to its creator (superusers see all), like the snapshot it trains on. The
# scores and disagreements of a batch are the project's data: once a run has scored a batch, the admins
# and ML staff of that batch's project may read them, whoever trained the run.

DISAGREEMENT_CHUNK_ITEMS = 1_000


def training_run_list_for_user(*, user: AbstractBaseUser) -> QuerySet[TrainingRun]:
    if user.is_superuser:
        return TrainingRun.objects.all()
    return TrainingRun.objects.filter(created_by=user)


def training_run_get_for_user(*, user: AbstractBaseUser, run_id: int) -> TrainingRun:
    return get_object_or_404(training_run_list_for_user(user=user).select_related("snapshot", "created_by"), pk=run_id)


def batch_scoring_get_for_user(*, user: AbstractBaseUser, run_id: int, batch_id: int | None) -> BatchScoring:
    """The scoring of `batch_id` by `run_id`, when the batch is in one of the user's projects (404
    otherwise, also when the batch was never scored by that run)."""
    scorings = BatchScoring.objects.filter(batch__project__in=project_list_for_user(user=user))
    return get_object_or_404(scorings.select_related("run", "batch__project"), run_id=run_id, batch_id=batch_id)


def batch_scoring_list_for_run(*, run: TrainingRun) -> QuerySet[BatchScoring]:
    return run.scorings.select_related("batch__project").order_by("-created_at", "-id")


@dataclass(frozen=True, slots=True)
class Disagreement:
    """An item where the reward model prefers the response the human majority put lower."""

    item_id: int
    external_id: str
    project_id: int
    human_chosen: str  # response ids
    human_rejected: str
    votes_for: int  # judgements ranking human_chosen above human_rejected
    votes: int  # judgements ranking both
    reward_margin: float  # r(human_chosen) - r(human_rejected): negative
    scores: dict[str, float]  # response id -> reward

    @property
    def strength(self) -> float:
        return -self.reward_margin


def disagreement_list(*, scoring: BatchScoring, limit: int = 100) -> list[Disagreement]:
    """The `limit` items of the scored batch where the reward model disagrees most with the raters.

    Per item: the raters' majority preference per response pair (ties and even splits dropped, as in a
    majority export); for each majority pair the reward margin r(chosen) - r(rejected). The item
    disagrees when a margin is negative; its strength is the largest |margin| among those pairs. Items
    are ranked by that strength, largest first (ties: item id). Reads the batch in chunks of
    DISAGREEMENT_CHUNK_ITEMS items and keeps only the best `limit`.
    """
    best: list[tuple[float, int, Disagreement]] = []
    last_id = 0
    while True:
        items = list(
            Item.objects.filter(batch_id=scoring.batch_id, pk__gt=last_id, judgement_count__gt=0)
            .order_by("id")
            .values_list("id", "external_id")[:DISAGREEMENT_CHUNK_ITEMS]
        )
        if not items:
            break
        last_id = items[-1][0]
        ids = [pk for pk, _ in items]
        scores: dict[int, dict[str, float]] = {}
        order: dict[int, list[str]] = {}
        for item_id, response_id, score in (
            ResponseScore.objects.filter(run_id=scoring.run_id, response__item_id__in=ids)
            .order_by("response__item_id", "response__position")
            .values_list("response__item_id", "response__response_id", "score")
        ):
            scores.setdefault(item_id, {})[response_id] = score
            order.setdefault(item_id, []).append(response_id)
        votes: dict[int, list[Vote]] = {}
        for item_id, ranking, strength in Judgement.objects.filter(item_id__in=ids, ranking__isnull=False).values_list(
            "item_id", "ranking", "strength"
        ):
            votes.setdefault(item_id, []).append(Vote(ranking, strength))
        for item_id, external_id in items:
            item_scores = scores.get(item_id)
            item_votes = votes.get(item_id)
            if not item_scores or not item_votes:
                continue
            worst = None
            for pair in majority_pairs(item_votes, order=order[item_id], strength_max=0, keep_ties=False):
                if pair.chosen not in item_scores or pair.rejected not in item_scores:
                    continue
                margin = item_scores[pair.chosen] - item_scores[pair.rejected]
                if margin < 0 and (worst is None or margin < worst[1]):
                    worst = (pair, margin)
            if worst is None:
                continue
            pair, margin = worst
            tiers = [tier_of(vote.ranking) for vote in item_votes]
            ranked = [t for t in tiers if pair.chosen in t and pair.rejected in t]
            entry = Disagreement(
                item_id=item_id,
                external_id=external_id,
                project_id=scoring.batch.project_id,
                human_chosen=pair.chosen,
                human_rejected=pair.rejected,
                votes_for=sum(t[pair.chosen] < t[pair.rejected] for t in ranked),
                votes=len(ranked),
                reward_margin=margin,
                scores=item_scores,
            )
            key = (-margin, -item_id, entry)
            if len(best) < limit:
                heapq.heappush(best, key)
            elif key[:2] > best[0][:2]:
                heapq.heapreplace(best, key)
    return [entry for _, _, entry in sorted(best, key=lambda k: (-k[0], -k[1]))]


class ScoreRow(NamedTuple):
    item_id: int
    external_id: str
    response_id: str
    model: str
    score: float


def score_rows(*, scoring: BatchScoring, chunk_size: int = STREAM_CHUNK_ROWS) -> Iterator[ScoreRow]:
    """Every stored score of the scored batch, in item then response order, streamed."""
    rows = (
        ResponseScore.objects.filter(run_id=scoring.run_id, response__item__batch_id=scoring.batch_id)
        .order_by("response__item_id", "response__position")
        .values_list(
            "response__item_id", "response__item__external_id", "response__response_id", "response__model_name", "score"
        )
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        yield ScoreRow(*row)
