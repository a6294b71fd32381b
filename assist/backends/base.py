"""The interface every assistant-model backend implements, and its error types."""

from dataclasses import dataclass, field
from typing import Protocol


class BackendError(Exception):
    """A permanent failure: retrying the same request will not help (bad model id, 4xx, bad output)."""


class TransientBackendError(BackendError):
    """A failure worth retrying with backoff (timeout, connection refused, 429, 5xx)."""


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 = greedy

    def as_dict(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature}


@dataclass(slots=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    extra: dict = field(default_factory=dict)


Messages = list[dict[str, str]]


class AssistantBackend(Protocol):
    name: str
    model_id: str

    def generate_batch(self, conversations: list[Messages], settings: GenerationSettings) -> list[Generation]:
        """Generate one completion per conversation, in order, in as few model calls as possible."""
        ...
