"""Parsing and validation of the JSONL import format (PRODUCT.md), one line at a time.

Pure functions: nothing here touches the database. `parse_line` returns a ParsedItem or raises
LineError naming the field; the batch import service collects every error before writing anything.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from labeling.models import TaskKind

KINDS = frozenset(TaskKind.values)
COMPARISON, CRITIQUE, STEPS = TaskKind.COMPARISON.value, TaskKind.CRITIQUE.value, TaskKind.STEPS.value
DEFAULT_RESPONSE_IDS = [chr(ord("a") + i) for i in range(26)] + [f"r{i}" for i in range(26, 1000)]
CHAT_ROLES = {"system", "user", "assistant"}
TOP_LEVEL_FIELDS = {"id", "kind", "prompt", "context", "responses", "metadata", "gold"}
RESPONSE_FIELDS = {"id", "text", "steps", "model", "metadata"}
FINISH_REASONS = {"found_error", "solution", "bad_problem", "give_up"}
HH_ASSISTANT = "\n\nAssistant:"
HH_TURN = re.compile(r"\n\n(Human|Assistant): ")
MAX_ID_LENGTH = 200


class LineError(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(slots=True)
class ParsedResponse:
    response_id: str
    position: int
    text: str = ""
    steps: list[str] | None = None
    model_name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ParsedItem:
    external_id: str
    kind: str
    prompt: str | list[dict[str, str]]
    responses: list[ParsedResponse]
    context: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    gold: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ImportLimits:
    max_line_bytes: int
    max_responses: int


def parse_line(raw: bytes, *, line_no: int, project_kind: str, limits: ImportLimits) -> ParsedItem:
    if len(raw) > limits.max_line_bytes:
        raise LineError(None, f"line is {len(raw)} bytes; the limit is {limits.max_line_bytes}")
    if b"\x00" in raw or b"\\u0000" in raw:
        raise LineError(None, "contains a NUL character, which cannot be stored")
    try:
        obj = orjson.loads(raw)  # validates UTF-8 and JSON in one pass
    except orjson.JSONDecodeError:
        obj = _parse_json_slow(raw)
    if not isinstance(obj, dict):
        raise LineError(None, f"expected a JSON object, got {type(obj).__name__}")
    if "chosen" in obj or "rejected" in obj:
        item = _parse_hh_rlhf(obj, line_no=line_no)
    else:
        item = _parse_native(obj, line_no=line_no, limits=limits)
    if item.kind != project_kind:
        raise LineError("kind", f"kind '{item.kind}' does not match the project's task kind '{project_kind}'")
    return item


def parse_chunk(
    lines: list[tuple[int, bytes]], project_kind: str, limits: ImportLimits
) -> tuple[list[tuple[int, ParsedItem]], list[tuple[int, str | None, str]]]:
    """Parse (line number, raw line) pairs into items and (line, field, message) errors."""
    items: list[tuple[int, ParsedItem]] = []
    errors: list[tuple[int, str | None, str]] = []
    for line_no, raw in lines:
        try:
            items.append((line_no, parse_line(raw, line_no=line_no, project_kind=project_kind, limits=limits)))
        except LineError as exc:
            errors.append((line_no, exc.field, exc.message))
    return items, errors


def _parse_json_slow(raw: bytes) -> Any:
    """The standard library parser: it accepts what orjson refuses (huge integers) and words errors well."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(None, f"not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineError(None, f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise LineError(None, "invalid JSON: nested too deeply") from None


def _parse_native(obj: dict[str, Any], *, line_no: int, limits: ImportLimits) -> ParsedItem:
    unknown = sorted(set(obj) - TOP_LEVEL_FIELDS)
    if unknown:
        raise LineError(unknown[0], f"unknown field '{unknown[0]}'")
    external_id = _parse_id(obj.get("id"), "id", default=f"line-{line_no}")
    kind = obj.get("kind")
    if kind is None:
        raise LineError("kind", "missing required field 'kind'")
    if kind not in KINDS:
        raise LineError("kind", f"unknown kind {kind!r}; expected one of {', '.join(TaskKind.values)}")
    prompt = _parse_prompt(obj.get("prompt"))
    context = obj.get("context", "")
    if not isinstance(context, str):
        raise LineError("context", "must be a string")
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise LineError("metadata", "must be a JSON object")
    responses = _parse_responses(obj.get("responses"), kind=kind, limits=limits)
    gold = _parse_gold(obj.get("gold"), kind=kind, responses=responses)
    return ParsedItem(
        external_id=external_id,
        kind=kind,
        prompt=prompt,
        responses=responses,
        context=context,
        metadata=metadata,
        gold=gold,
    )


def _parse_id(value: Any, field_name: str, *, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LineError(field_name, "must be a string or an integer")
    value = str(value).strip()
    if not value:
        raise LineError(field_name, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise LineError(field_name, f"is {len(value)} characters; the limit is {MAX_ID_LENGTH}")
    return value


def _parse_prompt(prompt: Any) -> str | list[dict[str, str]]:
    if prompt is None:
        raise LineError("prompt", "missing required field 'prompt'")
    if isinstance(prompt, str):
        if not prompt.strip():
            raise LineError("prompt", "must not be empty")
        return prompt
    if not isinstance(prompt, list) or not prompt:
        raise LineError("prompt", "must be a non-empty string or a non-empty list of chat messages")
    messages = []
    for index, message in enumerate(prompt):
        where = f"prompt[{index}]"
        if not isinstance(message, dict):
            raise LineError(where, "must be an object with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in CHAT_ROLES:
            raise LineError(f"{where}.role", f"must be one of {', '.join(sorted(CHAT_ROLES))}")
        if not isinstance(content, str):
            raise LineError(f"{where}.content", "must be a string")
        extra = sorted(set(message) - {"role", "content"})
        if extra:
            raise LineError(f"{where}.{extra[0]}", f"unknown field '{extra[0]}'")
        messages.append({"role": role, "content": content})
    return messages


def _parse_responses(responses: Any, *, kind: str, limits: ImportLimits) -> list[ParsedResponse]:
    if responses is None:
        raise LineError("responses", "missing required field 'responses'")
    if not isinstance(responses, list):
        raise LineError("responses", "must be a list")
    low, high = (1, 1) if kind == CRITIQUE else (2 if kind == COMPARISON else 1, limits.max_responses)
    if not low <= len(responses) <= high:
        wanted = f"exactly {low}" if low == high else f"{low} to {high}"
        raise LineError("responses", f"a {kind} item needs {wanted} responses, got {len(responses)}")
    parsed: list[ParsedResponse] = []
    seen: set[str] = set()
    for position, response in enumerate(responses):
        where = f"responses[{position}]"
        if not isinstance(response, dict):
            raise LineError(where, "must be an object")
        unknown = sorted(set(response) - RESPONSE_FIELDS)
        if unknown:
            raise LineError(f"{where}.{unknown[0]}", f"unknown field '{unknown[0]}'")
        response_id = _parse_id(response.get("id"), f"{where}.id", default=DEFAULT_RESPONSE_IDS[position])
        if len(response_id) > 100:
            raise LineError(f"{where}.id", "is longer than 100 characters")
        if response_id in seen:
            raise LineError(f"{where}.id", f"duplicate response id '{response_id}'")
        seen.add(response_id)
        text, steps = response.get("text"), response.get("steps")
        if kind == STEPS:
            if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
                raise LineError(f"{where}.steps", "a steps item needs a non-empty list of strings")
            text = text if isinstance(text, str) else ""
        else:
            if steps is not None:
                raise LineError(f"{where}.steps", f"only steps items carry 'steps', not {kind}")
            if not isinstance(text, str):
                raise LineError(f"{where}.text", "missing or not a string")
        model = response.get("model", "")
        if not isinstance(model, str) or len(model) > 200:
            raise LineError(f"{where}.model", "must be a string of at most 200 characters")
        metadata = response.get("metadata", {})
        if not isinstance(metadata, dict):
            raise LineError(f"{where}.metadata", "must be a JSON object")
        parsed.append(
            ParsedResponse(
                response_id=response_id,
                position=position,
                text=text,
                steps=steps if kind == STEPS else None,
                model_name=model,
                metadata=metadata,
            )
        )
    return parsed


def _parse_gold(gold: Any, *, kind: str, responses: list[ParsedResponse]) -> dict[str, Any] | None:
    if gold is None:
        return None
    if not isinstance(gold, dict):
        raise LineError("gold", "must be a JSON object")
    if kind == TaskKind.COMPARISON:
        validate_ranking(gold.get("ranking"), {r.response_id for r in responses}, field_name="gold.ranking")
    elif kind == TaskKind.STEPS:
        labels = gold.get("labels")
        n_steps = len(responses[0].steps or [])
        if not isinstance(labels, list) or not labels or len(labels) > n_steps:
            raise LineError("gold.labels", f"must be a list of 1 to {n_steps} step labels")
        if any(label not in (-1, 0, 1) or isinstance(label, bool) for label in labels):
            raise LineError("gold.labels", "each step label must be -1, 0 or 1")
        if gold.get("finish_reason") is not None and gold["finish_reason"] not in FINISH_REASONS:
            raise LineError("gold.finish_reason", f"must be one of {', '.join(sorted(FINISH_REASONS))}")
    return gold


def validate_ranking(ranking: Any, response_ids: set[str], *, field_name: str = "ranking") -> list[list[str]]:
    """A ranking is tiers best first: [["b"], ["a", "c"]]. Every response appears exactly once."""
    if not isinstance(ranking, list) or not ranking:
        raise LineError(field_name, 'must be a non-empty list of tiers, e.g. [["a"], ["b"]]')
    seen: list[str] = []
    for index, tier in enumerate(ranking):
        if not isinstance(tier, list) or not tier or not all(isinstance(r, str) for r in tier):
            raise LineError(f"{field_name}[{index}]", "each tier must be a non-empty list of response ids")
        seen.extend(tier)
    unknown = [r for r in seen if r not in response_ids]
    if unknown:
        raise LineError(field_name, f"unknown response id '{unknown[0]}'")
    if len(seen) != len(set(seen)):
        raise LineError(field_name, "a response id appears more than once")
    missing = sorted(response_ids - set(seen))
    if missing:
        raise LineError(field_name, f"response '{missing[0]}' is not ranked")
    return ranking


def _parse_hh_rlhf(obj: dict[str, Any], *, line_no: int) -> ParsedItem:
    """An HH-RLHF line: {"chosen": transcript, "rejected": transcript}.

    The shared conversation up to the last common "\\n\\nAssistant:" becomes the prompt (as chat
    messages); the two remainders become responses 'a' and 'b' in an order fixed by a hash of the line,
    and the original preference is kept as the item's reference label. The exact transcripts can be
    rebuilt from what is stored (see `hh_transcripts`).
    """
    unknown = sorted(set(obj) - {"chosen", "rejected"})
    if unknown:
        raise LineError(unknown[0], f"unknown field '{unknown[0]}' in an HH-RLHF line")
    chosen, rejected = obj.get("chosen"), obj.get("rejected")
    for name, value in (("chosen", chosen), ("rejected", rejected)):
        if not isinstance(value, str) or not value.strip():
            raise LineError(name, "must be a non-empty transcript string")
    common = _common_prefix_length(chosen, rejected)
    cut = chosen.rfind(HH_ASSISTANT, 0, common)
    if cut < 0:
        raise LineError("chosen", "the two transcripts share no conversation ending in an Assistant turn")
    cut += len(HH_ASSISTANT)
    prefix = chosen[:cut]
    messages = _hh_messages(prefix[: -len(HH_ASSISTANT)])
    metadata: dict[str, Any] = {"source": "hh-rlhf"}
    if not messages or hh_prompt_transcript(messages) != prefix:
        # Irregular turn markers: keep the raw prefix so the export reproduces the line exactly.
        metadata["hh_prompt_transcript"] = prefix
        if not messages:
            messages = [{"role": "user", "content": prefix[: -len(HH_ASSISTANT)].strip()}]
    responses = []
    for name, transcript in (("chosen", chosen), ("rejected", rejected)):
        rest = transcript[cut:]
        separator = " " if rest.startswith(" ") else ""
        responses.append((name, rest[len(separator) :], separator))
    flip = hashlib.blake2b(f"{line_no}:{chosen}".encode(), digest_size=1).digest()[0] & 1
    order = [responses[1], responses[0]] if flip else responses
    parsed = [
        ParsedResponse(
            response_id=chr(ord("a") + position),
            position=position,
            text=text,
            metadata={"hh_separator": separator} if separator != " " else {},
        )
        for position, (_, text, separator) in enumerate(order)
    ]
    chosen_id = parsed[order.index(responses[0])].response_id
    rejected_id = parsed[order.index(responses[1])].response_id
    return ParsedItem(
        external_id=f"hh-{line_no}",
        kind=TaskKind.COMPARISON,
        prompt=messages,
        responses=parsed,
        metadata=metadata,
        reference={"ranking": [[chosen_id], [rejected_id]], "source": "hh-rlhf"},
    )


def _common_prefix_length(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _hh_messages(conversation: str) -> list[dict[str, str]]:
    parts = HH_TURN.split(conversation)
    if parts[0] != "":
        return []
    return [
        {"role": "user" if parts[i] == "Human" else "assistant", "content": parts[i + 1]}
        for i in range(1, len(parts), 2)
    ]


def hh_prompt_transcript(messages: list[dict[str, str]]) -> str:
    turns = "".join(f"\n\n{'Human' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in messages)
    return turns + HH_ASSISTANT


def hh_transcript(item_prompt: Any, item_metadata: dict[str, Any], response_text: str, response_metadata: dict) -> str:
    """Rebuild an HH-RLHF transcript (prompt + one response) exactly as it was imported."""
    prefix = item_metadata.get("hh_prompt_transcript")
    if prefix is None:
        messages = item_prompt if isinstance(item_prompt, list) else [{"role": "user", "content": item_prompt}]
        prefix = hh_prompt_transcript(messages)
    return prefix + response_metadata.get("hh_separator", " ") + response_text
