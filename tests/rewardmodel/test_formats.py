"""The files load where trainers load them: `datasets` reads the JSONL and Parquet outputs, and TRL's
RewardTrainer prepares (tokenizes) the JSONL and trains a step on it, margins included."""

import pytest

from rewardmodel.formats import FORMATS
from tests.labeling.factories import comparison_line, import_lines
from tests.rewardmodel.factories import answer, export, judge

pytestmark = pytest.mark.django_db

COLUMNS = ["prompt", "chosen", "rejected", "margin", "group"]
CHAT = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is two plus two?"}]


@pytest.fixture(autouse=True)
def offline_datasets(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture
def judged(export_project):  # type: ignore[no-untyped-def]
    """Eight text items and a three-way one, judged; a fifth of the prompts go to test."""
    import_lines(export_project, [*(comparison_line(i) for i in range(8)), comparison_line(8, n_responses=3)])
    answers = {f"q-{i}": answer([["a"], ["b"]], 1 + i % 3) for i in range(8)}
    judge(export_project, "r1", {**answers, "q-8": answer([["c"], ["a"], ["b"]], 2)})
    return export_project


@pytest.fixture
def judged_chat(export_project):  # type: ignore[no-untyped-def]
    import_lines(export_project, [comparison_line(i, prompt=CHAT) for i in range(4)])
    judge(export_project, "r1", {f"q-{i}": answer([["b"], ["a"]], 2) for i in range(4)})
    return export_project


def test_jsonl_and_parquet_load_with_datasets_with_the_same_rows(judged, ml_user, tmp_path):
    from datasets import load_dataset

    jsonl = export(ml_user, projects=(judged.pk,), test_fraction=0.4, seed=3)
    parquet = export(ml_user, projects=(judged.pk,), test_fraction=0.4, seed=3, format="parquet")

    from_json = load_dataset(
        "json",
        data_files={s: str(jsonl.directory / f"{s}.jsonl") for s in ("train", "test")},
        cache_dir=str(tmp_path / "c1"),
    )
    from_parquet = load_dataset(
        "parquet",
        data_files={s: str(parquet.directory / f"{s}.parquet") for s in ("train", "test")},
        cache_dir=str(tmp_path / "c2"),
    )

    for split in ("train", "test"):
        assert from_json[split].column_names == COLUMNS
        assert from_parquet[split].column_names == COLUMNS
        assert from_json[split].to_list() == from_parquet[split].to_list()
    assert from_json["train"].num_rows + from_json["test"].num_rows == 8 + 3
    assert (from_json["train"].num_rows, from_json["test"].num_rows) == (
        jsonl.counts["rows"]["train"],
        jsonl.counts["rows"]["test"],
    )


def test_the_dataset_card_declares_the_splits_for_load_dataset(judged, ml_user, tmp_path):
    from datasets import load_dataset

    snapshot = export(ml_user, projects=(judged.pk,), test_fraction=0.4, seed=3)

    loaded = load_dataset(str(snapshot.directory), cache_dir=str(tmp_path / "c"))

    assert sorted(loaded) == ["test", "train"]
    assert loaded["train"].num_rows == snapshot.counts["rows"]["train"]


def test_conversational_rows_load_as_message_lists(judged_chat, ml_user, tmp_path):
    from datasets import load_dataset

    snapshot = export(ml_user, projects=(judged_chat.pk,), format="parquet")

    loaded = load_dataset(
        "parquet", data_files=str(snapshot.directory / "train.parquet"), split="train", cache_dir=str(tmp_path / "c")
    )

    assert loaded[0]["prompt"] == CHAT
    assert loaded[0]["chosen"] == [{"role": "assistant", "content": "Answer 1 to 0"}]


def test_hh_rlhf_format_writes_whole_transcripts(judged, ml_user, train_rows):
    snapshot = export(ml_user, projects=(judged.pk,), format="hh-rlhf")

    rows = train_rows(snapshot)

    assert rows[0] == {
        "chosen": "\n\nHuman: Question 0?\n\nAssistant: Answer 0 to 0",
        "rejected": "\n\nHuman: Question 0?\n\nAssistant: Answer 1 to 0",
    }


def test_every_registered_format_exports_comparisons():
    assert set(FORMATS) == {"trl-jsonl", "parquet", "hh-rlhf"}
    assert all(f.task_kind == "comparison" and f.description for f in FORMATS.values())


def _tiny_reward_trainer(dataset, output_dir):  # type: ignore[no-untyped-def]
    """A one-layer Llama reward model and a word-level tokenizer trained on the dataset's own words:
    nothing is downloaded."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast
    from trl import RewardConfig, RewardTrainer

    def texts():  # type: ignore[no-untyped-def]
        for row in dataset:
            for column in ("prompt", "chosen", "rejected"):
                value = row[column]
                yield value if isinstance(value, str) else " ".join(f"[{m['role']}] {m['content']}" for m in value)

    words = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.train_from_iterator(texts(), trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[EOS]"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
    tokenizer.chat_template = (
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=1,
    )
    args = RewardConfig(
        output_dir=str(output_dir),
        report_to="none",
        max_steps=1,
        per_device_train_batch_size=4,
        save_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    return RewardTrainer(
        model=LlamaForSequenceClassification(config),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")
@pytest.mark.parametrize("project_fixture", ["judged", "judged_chat"])
def test_trl_prepares_and_trains_on_the_jsonl(request, project_fixture, ml_user, tmp_path):
    from datasets import load_dataset

    project = request.getfixturevalue(project_fixture)
    snapshot = export(ml_user, projects=(project.pk,))
    dataset = load_dataset(
        "json", data_files=str(snapshot.directory / "train.jsonl"), split="train", cache_dir=str(tmp_path / "c")
    )

    trainer = _tiny_reward_trainer(dataset, tmp_path / "out")
    result = trainer.train()

    prepared = trainer.train_dataset
    assert {"chosen_ids", "rejected_ids", "margin"} <= set(prepared.column_names)
    assert prepared.num_rows == snapshot.total_rows
    assert all(len(ids) > 1 for ids in prepared["chosen_ids"])
    assert result.training_loss == pytest.approx(result.training_loss)  # finite, not NaN
