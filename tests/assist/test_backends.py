import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assist.backends.base import BackendError, GenerationSettings, TransientBackendError
from assist.backends.local import (
    BUNDLED_SMOLLM2,
    MIN_SHARED_PREFIX,
    LocalTransformersBackend,
    load_model,
    prefill_ragged,
    shared_prefix_length,
)
from assist.backends.openai_compatible import OpenAICompatibleBackend
from assist.backends.registry import get_backend

GREEDY = GenerationSettings(max_new_tokens=6, temperature=0.0)
CONVERSATIONS = [
    [{"role": "user", "content": "short"}],
    [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a much longer question about many things"},
    ],
    [{"role": "user", "content": "third one"}],
]


def test_local_backend_generates_a_batch_with_token_counts(tiny_model_dir):
    backend = LocalTransformersBackend(name="local", model=str(tiny_model_dir))

    generations = backend.generate_batch(CONVERSATIONS, GREEDY)

    assert len(generations) == 3
    assert all(g.prompt_tokens > 0 and 0 <= g.completion_tokens <= 6 for g in generations)
    assert generations[1].prompt_tokens > generations[0].prompt_tokens
    assert all(g.extra == {"batch_size": 3, "shared_prefix_tokens": 0} for g in generations)


def test_batched_generation_matches_one_at_a_time(tiny_model_dir):
    backend = LocalTransformersBackend(name="local", model=str(tiny_model_dir))

    batched = [g.text for g in backend.generate_batch(CONVERSATIONS, GREEDY)]
    single = [backend.generate_batch([c], GREEDY)[0].text for c in CONVERSATIONS]

    assert batched == single


SYSTEM = "You are a careful reviewer. " * 8  # a system prompt long enough to be read once per batch
CRITIQUES = [
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    for text in ("review this", "review this much longer answer with many more words in it", "ok")
]


def test_batched_generation_reads_the_shared_prefix_once_and_matches_one_at_a_time(tiny_model_dir):
    backend = LocalTransformersBackend(name="local", model=str(tiny_model_dir))
    longer = GenerationSettings(max_new_tokens=12, temperature=0.0)

    batched = backend.generate_batch(CRITIQUES, longer)
    single = [backend.generate_batch([c], longer)[0] for c in CRITIQUES]

    assert batched[0].extra["shared_prefix_tokens"] >= MIN_SHARED_PREFIX
    assert single[0].extra["shared_prefix_tokens"] == 0  # one row: plain generate
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in single]


def test_shared_prefix_leaves_every_row_a_token_of_its_own():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2
    assert shared_prefix_length([[7, 1], [8, 1]]) == 0


def test_ragged_prefill_lays_out_prefix_padding_and_rows(tiny_model_dir):
    import torch

    model = load_model(str(tiny_model_dir)).model
    prefix = list(range(100, 100 + MIN_SHARED_PREFIX))
    rows = [prefix + [5, 6, 7], prefix + [8]]

    with torch.inference_mode():
        input_ids, mask, cache, shared = prefill_ragged(model, rows, pad_id=0)

    assert shared == MIN_SHARED_PREFIX
    assert cache.get_seq_length() == shared + 2  # the longest row's own tokens but its last
    assert input_ids[0].tolist() == prefix + [5, 6, 7]
    assert input_ids[1].tolist() == prefix + [0, 0, 8]
    assert mask[1].tolist() == [1] * shared + [0, 0, 1]
    # The row's own keys equal those of reading it alone: padding changed nothing.
    with torch.inference_mode():
        alone = model(input_ids=torch.tensor([rows[0][:-1]]), use_cache=True).past_key_values
    assert torch.allclose(cache.layers[0].keys[0], alone.layers[0].keys[0], atol=1e-5)


def test_model_loads_once_per_process(tiny_model_dir):
    assert load_model(str(tiny_model_dir)) is load_model(str(tiny_model_dir))


def test_unknown_local_model_is_a_permanent_error(tmp_path):
    backend = LocalTransformersBackend(name="local", model=str(tmp_path / "missing"))

    with pytest.raises(BackendError) as caught:
        backend.generate_batch(CONVERSATIONS[:1], GREEDY)

    assert not isinstance(caught.value, TransientBackendError)


def test_registry_builds_backends_from_settings(settings):
    settings.OVERSIGHT_ASSIST_BACKENDS = {
        "vllm": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        "broken": {"kind": "carrier-pigeon"},
    }

    assert isinstance(get_backend("vllm"), OpenAICompatibleBackend)
    with pytest.raises(BackendError, match="unknown kind"):
        get_backend("broken")
    with pytest.raises(BackendError, match="No assistant backend"):
        get_backend("nope")


@pytest.mark.slow
def test_bundled_smollm2_gguf_loads_caches_and_critiques(settings, tmp_path):
    settings.OVERSIGHT_MODEL_CACHE_DIR = str(tmp_path)
    backend = LocalTransformersBackend(name="local", model=BUNDLED_SMOLLM2)

    [generation] = backend.generate_batch(
        [[{"role": "user", "content": "Point out the error: 'The capital of France is Berlin.'"}]],
        GenerationSettings(max_new_tokens=24),
    )

    assert generation.completion_tokens > 0 and generation.text
    assert (tmp_path / "bundled_smollm2" / "model.safetensors").is_file()


class FakeOpenAI(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible server; the path's first segment picks the behaviour."""

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        mode = self.path.split("/")[1]
        if mode == "slow":
            time.sleep(1.0)
        if mode == "error500":
            return self._send(500, {"error": "boom"})
        if mode == "error400":
            return self._send(400, {"error": "bad model"})
        if mode == "garbage":
            return self._send(200, {"nothing": True})
        text = f"critique of: {body['messages'][-1]['content']}"
        return self._send(
            200, {"choices": [{"message": {"content": text}}], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
        )

    def _send(self, status, payload):  # type: ignore[no-untyped-def]
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # type: ignore[no-untyped-def]
        pass


@pytest.fixture(scope="module")
def fake_server():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_openai_backend_returns_completions_in_order(fake_server):
    backend = OpenAICompatibleBackend(name="vllm", base_url=f"{fake_server}/ok/v1", model="m")

    generations = backend.generate_batch(CONVERSATIONS, GREEDY)

    assert [g.text for g in generations] == [f"critique of: {c[-1]['content']}" for c in CONVERSATIONS]
    assert (generations[0].prompt_tokens, generations[0].completion_tokens) == (7, 3)


@pytest.mark.parametrize(
    ("mode", "error", "transient"),
    [("error500", "HTTP 500", True), ("error400", "HTTP 400", False), ("garbage", "malformed", False)],
)
def test_openai_backend_error_types(fake_server, mode, error, transient):
    backend = OpenAICompatibleBackend(name="vllm", base_url=f"{fake_server}/{mode}/v1", model="m")

    with pytest.raises(BackendError, match=error) as caught:
        backend.generate_batch(CONVERSATIONS[:1], GREEDY)

    assert isinstance(caught.value, TransientBackendError) is transient


def test_openai_backend_timeout_and_refused_connection_are_transient(fake_server):
    slow = OpenAICompatibleBackend(name="vllm", base_url=f"{fake_server}/slow/v1", model="m", timeout=0.2)
    closed = OpenAICompatibleBackend(name="vllm", base_url="http://127.0.0.1:9/v1", model="m", timeout=1)

    with pytest.raises(TransientBackendError, match="Timeout"):
        slow.generate_batch(CONVERSATIONS[:1], GREEDY)
    with pytest.raises(TransientBackendError, match="ConnectionError"):
        closed.generate_batch(CONVERSATIONS[:1], GREEDY)
