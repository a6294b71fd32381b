"""Any OpenAI-compatible chat-completions server: vLLM, TGI, Ollama or a hosted API.

A batch is sent as concurrent requests (the server batches them on its side). Timeouts, connection
errors, 429 and 5xx are transient (retried by the task with backoff); other 4xx and malformed answers
are permanent.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from assist.backends.base import BackendError, Generation, GenerationSettings, Messages, TransientBackendError


class OpenAICompatibleBackend:
    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 60.0,
        concurrency: int = 8,
    ) -> None:
        self.name = name
        self.model_id = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.concurrency = max(1, concurrency)

    def generate_batch(self, conversations: list[Messages], settings: GenerationSettings) -> list[Generation]:
        if not conversations:
            return []
        with (
            requests.Session() as session,
            ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool,
        ):
            return list(pool.map(lambda messages: self._complete(session, messages, settings), conversations))

    def _complete(self, session: requests.Session, messages: Messages, settings: GenerationSettings) -> Generation:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {
            "model": self.model_id,
            "messages": messages,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
        }
        started = time.perf_counter()
        try:
            response = session.post(
                f"{self.base_url}/chat/completions", json=body, headers=headers, timeout=self.timeout
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientBackendError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        latency_ms = int((time.perf_counter() - started) * 1000)
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientBackendError(f"{self.name}: HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise BackendError(f"{self.name}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.name}: malformed response: {response.text[:200]}") from exc
        if not isinstance(text, str):
            raise BackendError(f"{self.name}: the completion is not text")
        return Generation(
            text=text.strip(),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_ms=latency_ms,
        )
