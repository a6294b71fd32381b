import orjson
import pytest

from tests.labeling.factories import comparison_line, import_lines
from tests.rewardmodel.factories import ExportProjectFactory, answer, export, judge


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def export_project(admin_user, ml_user):  # type: ignore[no-untyped-def]
    return ExportProjectFactory(members=[admin_user, ml_user], created_by=admin_user)


@pytest.fixture
def two_items(export_project):  # type: ignore[no-untyped-def]
    """q-1 and q-2, each with responses a and b."""
    return import_lines(export_project, [comparison_line(1), comparison_line(2)])


def read_jsonl(path) -> list[dict]:  # type: ignore[no-untyped-def]
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def train_rows():  # type: ignore[no-untyped-def]
    """The rows of a snapshot's train.jsonl."""

    def rows(snapshot) -> list[dict]:  # type: ignore[no-untyped-def]
        path = snapshot.directory / "train.jsonl"
        return read_jsonl(path) if path.exists() else []

    return rows


@pytest.fixture
def read_split():  # type: ignore[no-untyped-def]
    """The rows of one split of a JSONL snapshot ([] when the split has no file)."""

    def rows(snapshot, split: str) -> list[dict]:  # type: ignore[no-untyped-def]
        path = snapshot.directory / f"{split}.jsonl"
        return read_jsonl(path) if path.exists() else []

    return rows


@pytest.fixture(scope="session")
def tiny_rm_dir(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A tiny random BERT with a scalar head and the bundled MiniLM tokenizer, saved as any local model
    folder is: training starts from it exactly as from a hub model."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from rewardmodel.training.model import bundled_minilm_dir

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_dir())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=128,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def judged_snapshot(export_project, ml_user):  # type: ignore[no-untyped-def]
    """A done TRL JSONL snapshot of 12 judged two-response items (a preferred on even items, b on odd),
    half of the prompts in the test split."""
    batch = import_lines(export_project, [comparison_line(i) for i in range(12)])
    judge(
        export_project,
        "r1",
        {
            f"q-{i}": answer(
                [["a"], ["b"]] if i % 2 == 0 else [["b"], ["a"]], flags={"a": ["harmful"]} if i == 3 else {}
            )
            for i in range(12)
        },
    )
    snapshot = export(ml_user, projects=(export_project.pk,), test_fraction=0.5)
    return snapshot, batch
