"""The training core's math against hand-computed values."""

import math

import torch

from rewardmodel.training.data import build_groups
from rewardmodel.training.evaluation import evaluate
from rewardmodel.training.model import load_backbone
from rewardmodel.training.trainer import (
    Encoded,
    TrainConfig,
    bradley_terry_loss,
    collate,
    disable_dropout,
    encode_groups,
    plan_batches,
    rewards_for,
)


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_the_loss_is_minus_log_sigmoid_of_the_reward_difference_less_the_margin():
    rewards = torch.tensor([1.0, 0.0, 2.0])

    loss = bradley_terry_loss(rewards, torch.tensor([0, 2]), torch.tensor([1, 1]), torch.tensor([0.0, 0.5]))

    # -(log σ(1 - 0 - 0) + log σ(2 - 0 - 0.5)) / 2 = (0.3132617 + 0.2014133) / 2
    assert math.isclose(float(loss), 0.2573375, abs_tol=1e-6)
    assert math.isclose(float(loss), -(log_sigmoid(1.0) + log_sigmoid(1.5)) / 2, abs_tol=1e-6)


def test_a_three_way_ranking_is_one_group_of_three_responses_and_three_pairs():
    rows = [
        {"prompt": "p", "chosen": "A", "rejected": "B", "margin": 0.5, "group": 7},
        {"prompt": "p", "chosen": "A", "rejected": "C", "margin": 1.0, "group": 7},
        {"prompt": "p", "chosen": "B", "rejected": "C", "margin": 0.0, "group": 7},
        {
            "prompt": [{"role": "user", "content": "hi"}],
            "chosen": [{"role": "assistant", "content": "X"}],
            "rejected": [{"role": "assistant", "content": "Y"}],
            "group": 8,
        },
    ]

    groups = build_groups(rows)
    no_margin = build_groups(rows, use_margin=False)

    assert [(g.key, g.prompt, g.responses) for g in groups] == [
        ("7", "p", ["A", "B", "C"]),
        ("8", "User: hi", ["X", "Y"]),
    ]
    assert [(p.chosen, p.rejected, p.margin) for p in groups[0].pairs] == [(0, 1, 0.5), (0, 2, 1.0), (1, 2, 0.0)]
    assert {p.margin for g in no_margin for p in g.pairs} == {0.0}


def test_collate_forwards_each_response_once_and_points_pairs_at_their_rows():
    groups = build_groups(
        [
            {"prompt": "p", "chosen": "A", "rejected": "B", "margin": 0.5, "group": 1},
            {"prompt": "p", "chosen": "A", "rejected": "C", "group": 1},
            {"prompt": "p", "chosen": "B", "rejected": "C", "group": 1},
            {"prompt": "q", "chosen": "D", "rejected": "E", "group": 2},
        ]
    )
    encoded = [Encoded(input_ids=[[5, 6, 7], [5, 8], [5]], length=3), Encoded(input_ids=[[9], [9, 9, 9, 9]], length=4)]

    input_ids, attention, chosen, rejected, margin = collate([0, 1], groups, encoded, pad_id=0)

    assert input_ids.tolist() == [[5, 6, 7, 0], [5, 8, 0, 0], [5, 0, 0, 0], [9, 0, 0, 0], [9, 9, 9, 9]]
    assert attention.sum(dim=1).tolist() == [3, 2, 1, 1, 4]
    assert (chosen.tolist(), rejected.tolist()) == ([0, 0, 1, 3], [1, 2, 2, 4])  # 4 pairs from 5 forwards
    assert margin.tolist() == [0.5, 0.0, 0.0, 0.0]


def test_collate_pads_to_a_multiple_so_steps_reuse_shapes():
    groups = build_groups([{"prompt": "p", "chosen": "A", "rejected": "B"}])
    encoded = [Encoded(input_ids=[[5, 6, 7], [5] * 9], length=9)]

    input_ids, attention, *_ = collate([0], groups, encoded, pad_id=0, multiple=8)

    assert input_ids.shape == (2, 16)
    assert attention.sum(dim=1).tolist() == [3, 9]
    assert TrainConfig().pad_to_multiple_of == 8


def test_without_dropout_training_mode_forwards_are_deterministic(tiny_rm_dir):
    model, _ = load_backbone(str(tiny_rm_dir))
    model.train()
    input_ids = torch.tensor([[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]])
    attention = (input_ids != 0).long()
    assert TrainConfig().dropout is False

    disable_dropout(model)

    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert torch.equal(rewards_for(model, input_ids, attention), rewards_for(model, input_ids, attention))


def test_batches_cover_every_group_once_are_length_sorted_and_seeded():
    rows = [{"prompt": f"p{i}", "chosen": "a", "rejected": "b", "group": i} for i in range(40)]
    groups = build_groups(rows)
    encoded = [Encoded(input_ids=[[1] * (i % 7 + 1), [1]], length=i % 7 + 1) for i in range(40)]
    config = TrainConfig(batch_size=4, megabatch=100, seed=3)

    batches = plan_batches(groups, encoded, config, epoch=0)

    assert sorted(i for b in batches for i in b) == list(range(40))
    assert all(len(b) == 4 for b in batches)
    # one mega-batch holds everything: each batch's lengths are a run of the sorted lengths
    assert all(max(encoded[i].length for i in b) - min(encoded[i].length for i in b) <= 1 for b in batches)
    assert batches == plan_batches(groups, encoded, config, epoch=0)
    assert batches != plan_batches(groups, encoded, config, epoch=1)


def test_evaluation_counts_accuracy_ties_as_half_and_buckets():
    groups = build_groups(
        [
            {"prompt": "p", "chosen": "a", "rejected": "b", "group": 1, "batch": 4, "flags": ["harmful"]},
            {"prompt": "q", "chosen": "c", "rejected": "d", "group": 2, "batch": 4},
            {"prompt": "r", "chosen": "e", "rejected": "f", "group": 3, "batch": 5},
        ]
    )

    metrics = evaluate(groups, [[2.0, 1.0], [0.0, 1.5], [1.0, 1.0]])

    assert metrics["pairs"] == 3
    assert metrics["accuracy"] == (1 + 0 + 0.5) / 3
    assert math.isclose(metrics["mean_margin"], (1.0 - 1.5 + 0.0) / 3)
    assert metrics["accuracy_by"]["batch"] == {"4": {"accuracy": 0.5, "pairs": 2}, "5": {"accuracy": 0.5, "pairs": 1}}
    assert metrics["accuracy_by"]["flag"] == {"harmful": {"accuracy": 1.0, "pairs": 1}}
    assert sum(b["pairs"] for b in metrics["calibration"]) == 3
    assert sum(b["count"] for b in metrics["margin_histogram"]) == 3


def minilm_tokenizer():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    from rewardmodel.training.model import bundled_minilm_dir

    return AutoTokenizer.from_pretrained(bundled_minilm_dir())


def test_a_response_is_encoded_as_one_text_after_its_prompt():
    tokenizer = minilm_tokenizer()
    groups = build_groups([{"prompt": "Human: hi there", "chosen": "hello friend", "rejected": "go away"}])

    encoded = encode_groups(groups, tokenizer, max_length=64)

    assert [tokenizer.decode(ids) for ids in encoded[0].input_ids] == [
        "[CLS] human : hi there hello friend [SEP]",
        "[CLS] human : hi there go away [SEP]",
    ]
    assert encoded[0].length == 8


def test_truncation_cuts_the_longer_side_from_the_left_and_keeps_special_tokens():
    tokenizer = minilm_tokenizer()
    long_prompt = " ".join(f"p{i}" for i in range(40))  # "p39" is two tokens: p, ##39
    rows = [
        {"prompt": long_prompt, "chosen": "short answer", "rejected": " ".join(["yes"] * 30)},
        {"prompt": "", "chosen": " ".join(["no"] * 30), "rejected": "ok"},
    ]

    encoded = encode_groups(build_groups(rows), tokenizer, max_length=12)
    tokens = [[tokenizer.convert_ids_to_tokens(ids) for ids in e.input_ids] for e in encoded]

    # prompt longer, response short: the response stays whole, the prompt keeps its latest tokens
    assert tokens[0][0] == ["[CLS]", "p", "##36", "p", "##37", "p", "##38", "p", "##39", "short", "answer", "[SEP]"]
    # both long: the ten content tokens split five / five, each side keeping its end
    assert tokens[0][1] == ["[CLS]", "##37", "p", "##38", "p", "##39", "yes", "yes", "yes", "yes", "yes", "[SEP]"]
    # no prompt: the response keeps its end; short texts are untouched
    assert tokens[1] == [["[CLS]", *["no"] * 10, "[SEP]"], ["[CLS]", "ok", "[SEP]"]]
