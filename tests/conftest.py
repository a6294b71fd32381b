from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.labeling.factories import ProjectFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
HH_FILE = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"
if not HH_FILE.is_file():
    HH_FILE = ROOT / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"


@pytest.fixture
def hh_file() -> Path:
    return HH_FILE


@pytest.fixture
def admin_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="alice-admin", role="admin")


@pytest.fixture
def ml_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="mel-ml", role="ml")


@pytest.fixture
def rater(db):  # type: ignore[no-untyped-def]
    return UserFactory(username="rita-rater", role="rater")


@pytest.fixture
def outsider(db):  # type: ignore[no-untyped-def]
    """A rater who belongs to no project of the tests."""
    return UserFactory(username="otto-outsider", role="rater")


@pytest.fixture
def project(admin_user, ml_user, rater):  # type: ignore[no-untyped-def]
    return ProjectFactory(members=[admin_user, ml_user, rater], created_by=admin_user)


@pytest.fixture
def client_for():  # type: ignore[no-untyped-def]
    """An API client authenticated as the given user (token auth, like scripts)."""

    def make(user) -> APIClient:  # type: ignore[no-untyped-def]
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """A tiny random Llama with a real tokenizer (MiniLM's WordPiece) and a chat template, saved the
    way any local model directory is: the local backend loads it through the same code as hub models."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from rewardmodel.training.model import bundled_minilm_dir

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_dir())
    tokenizer.chat_template = (
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    tokenizer.eos_token = "[SEP]"
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.cls_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def tiny_backend(settings, tiny_model_dir):  # type: ignore[no-untyped-def]
    settings.OVERSIGHT_ASSIST_BACKENDS = {"local": {"kind": "transformers", "model": str(tiny_model_dir)}}
    settings.OVERSIGHT_ASSIST_DEFAULT_BACKEND = "local"
    settings.OVERSIGHT_ASSIST_MAX_NEW_TOKENS = 8
    return str(tiny_model_dir)
