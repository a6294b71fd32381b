"""Preference rows -> groups of unique responses with the pairs between them.

A row is what the exporter writes: {"prompt", "chosen", "rejected", "margin"?, "group"?, ...}. Rows of
one `group` (a K-way ranking expanded to all ordered pairs) share their prompt, so each distinct
response of the group is forwarded once and every pair is scored from those rewards (InstructGPT):
a K-way ranking costs K forwards, not K·(K-1).
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Pair:
    chosen: int  # index into the group's responses
    rejected: int
    margin: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Group:
    key: str
    prompt: str
    responses: list[str] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)

    def response_index(self, text: str) -> int:
        try:
            return self.responses.index(text)
        except ValueError:
            self.responses.append(text)
            return len(self.responses) - 1


def prompt_text(prompt: Any) -> str:
    """Chat prompts become plain transcripts; text prompts stay as they are."""
    if isinstance(prompt, list):
        return "\n".join(f"{m.get('role', 'user').capitalize()}: {m.get('content', '')}" for m in prompt)
    return str(prompt or "")


def response_text(response: Any) -> str:
    if isinstance(response, list):  # conversational exports: the assistant turn(s)
        return "\n".join(str(m.get("content", "")) for m in response)
    return str(response or "")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def build_groups(rows: Iterable[dict[str, Any]], *, use_margin: bool = True) -> list[Group]:
    groups: dict[str, Group] = {}
    for index, row in enumerate(rows):
        prompt = prompt_text(row.get("prompt"))
        key = str(row.get("group") if row.get("group") is not None else f"row-{index}")
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(key=key, prompt=prompt)
        chosen = group.response_index(response_text(row["chosen"]))
        rejected = group.response_index(response_text(row["rejected"]))
        meta = {k: row[k] for k in ("batch", "flags", "strength", "margin", "item") if k in row}
        group.pairs.append(Pair(chosen, rejected, float(row.get("margin") or 0.0) if use_margin else 0.0, meta))
    return list(groups.values())
