"""Reward-model training: our trainer vs TRL's RewardTrainer, same data, backbone, lengths and batch.

Both train the bundled MiniLM-L6 encoder for one epoch on the same HH-RLHF pairs: the first
`--train-pairs` pairs (outside the held-out tail) that fit in `--max-length` tokens, since TRL drops
longer pairs where ours truncates them. Max length, batch size, learning rate, schedule, seed and
precision (fp32) are equal; dropout is off in both (each trainer's default); TRL's gradient
checkpointing is off (its default trades time for memory). Each trains in its own process so peak
memory is its own; then both checkpoints are scored on the same held-out pairs by the same code,
each on the tokens it was trained on (TRL appends an end-of-text token; ours does not). The
accuracy comparison is paired by seed: the per-seed differences, their mean and paired t.
Reported: pairs trained, pairs/s (wall time of set-up + training, model load included), peak RSS,
held-out accuracy.

    ./oversight bench rm_bench [--train-pairs 1024] [--test-pairs 400] [--max-length 256] [--batch-size 16]
        [--seeds 0,1,2]  (one run of each trainer per seed; accuracy averaged, pairs/s pooled)
"""

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._setup import HH_FILE  # noqa: E402


def hh_rows() -> list[dict]:
    """Every HH-RLHF pair as prompt / chosen / rejected (the shared conversation is the prompt)."""
    rows = []
    with gzip.open(HH_FILE, "rt") as f:
        for line in f:
            pair = json.loads(line)
            common = os.path.commonprefix([pair["chosen"], pair["rejected"]])
            cut = common.rfind("\n\nAssistant:") + len("\n\nAssistant:")
            rows.append(
                {
                    "prompt": pair["chosen"][:cut],
                    "chosen": pair["chosen"][cut:].strip(),
                    "rejected": pair["rejected"][cut:].strip(),
                }
            )
    return rows


def fitting_rows(rows: list[dict], max_length: int) -> list[dict]:
    """The pairs whose chosen and rejected texts both fit in `max_length` tokens, as TRL counts them.
    TRL's RewardTrainer drops longer pairs while ours truncates them; training both on pairs that fit
    gives both exactly the same pairs and the same tokens."""
    from transformers import AutoTokenizer

    from rewardmodel.training.model import bundled_minilm_dir

    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_dir())

    def fits(r: dict) -> bool:  # [CLS] text [SEP], plus the end-of-text token TRL appends
        return all(
            len(tokenizer(r["prompt"] + " " + r[k])["input_ids"]) + 1 <= max_length for k in ("chosen", "rejected")
        )

    return [r for r in rows if fits(r)]


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(2)
    rows = hh_rows()
    train_rows = fitting_rows(rows[: len(rows) - args.test_pairs], args.max_length)[: args.train_pairs]
    output = Path(args.output)
    started = time.perf_counter()
    if args.child == "ours":
        from rewardmodel.training.data import build_groups
        from rewardmodel.training.trainer import TrainConfig, train

        config = TrainConfig(
            base_model="bundled:minilm",
            max_length=args.max_length,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            epochs=1,
            seed=args.seed,
            use_margin=False,
            checkpoint_every=10**9,
        )
        summary = train(config=config, train_groups=build_groups(train_rows, use_margin=False), output_dir=output)
        trained_pairs = summary["pairs"]
        model_dir = output / "model"
    else:
        from datasets import Dataset
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from trl import RewardConfig, RewardTrainer

        from rewardmodel.training.model import bundled_minilm_dir

        source = str(bundled_minilm_dir())
        tokenizer = AutoTokenizer.from_pretrained(source)
        tokenizer.eos_token = tokenizer.sep_token  # TRL appends an EOS; BERT's end-of-text is [SEP]
        torch.manual_seed(args.seed)
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
        dataset = Dataset.from_list(
            [
                {"chosen": r["prompt"] + " " + r["chosen"], "rejected": r["prompt"] + " " + r["rejected"]}
                for r in train_rows
            ]
        )
        config = RewardConfig(
            output_dir=str(output / "trl"),
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            num_train_epochs=1,
            max_length=args.max_length,
            seed=args.seed,
            disable_dropout=True,  # TRL's default; ours defaults to no dropout as well
            gradient_checkpointing=False,  # TRL defaults to True: it saves memory and costs time
            bf16=False,  # TRL defaults to bf16 autocast; both train in fp32 here
            use_cpu=True,
            save_strategy="no",
            report_to=[],
            logging_steps=10**6,
            dataloader_num_workers=0,
            warmup_steps=int(0.1 * -(-len(train_rows) // args.batch_size)),  # ours: 10% of the steps
            lr_scheduler_type="linear",
            max_grad_norm=1.0,
        )
        trainer = RewardTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
        trainer.train()
        trained_pairs = len(trainer.train_dataset)  # after TRL's own length filter
        model_dir = output / "model"
        trainer.model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "pairs": trained_pairs, "peak_rss_mb": peak_mb, "model_dir": str(model_dir)}))


def held_out_accuracy(model_dir: str, rows: list[dict], max_length: int, *, trained_by: str) -> float:
    """Accuracy on `rows`, each model scored on the tokens it was trained on: ours reads
    `[CLS] prompt response [SEP]`; TRL appends the end-of-text token to the text before tokenising,
    so its model read `[CLS] prompt response [SEP] [SEP]`, and is scored that way."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardmodel.training.data import build_groups
    from rewardmodel.training.evaluation import evaluate
    from rewardmodel.training.trainer import score_groups

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if trained_by == "trl":
        rows = [
            {**r, "chosen": r["chosen"] + tokenizer.eos_token, "rejected": r["rejected"] + tokenizer.eos_token}
            for r in rows
        ]
    groups = build_groups(rows, use_margin=False)
    return evaluate(groups, score_groups(model, tokenizer, groups, max_length=max_length))["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["ours", "trl"])
    parser.add_argument("--output")
    parser.add_argument("--train-pairs", type=int, default=1024)
    parser.add_argument("--test-pairs", type=int, default=400)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default="0", help="Comma-separated: one run of each trainer per seed.")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    rows = hh_rows()
    test_rows = rows[-args.test_pairs :]
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: dict[str, list[dict]] = {"trl": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for name in ("trl", "ours"):
                options = {**vars(args), "seed": seed, "seeds": None}
                command = [sys.executable, __file__, "--child", name, "--output", f"{tmp}/{name}-{seed}"] + [
                    f"--{k.replace('_', '-')}={v}"
                    for k, v in options.items()
                    if k not in ("child", "output") and v is not None
                ]
                out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
                result = json.loads(out.strip().splitlines()[-1])
                result["accuracy"] = held_out_accuracy(result["model_dir"], test_rows, args.max_length, trained_by=name)
                result["seed"] = seed
                runs[name].append(result)
    print(
        f"Reward-model training, MiniLM-L6 (bundled), up to {args.train_pairs} HH-RLHF train pairs that fit, 1 epoch, "
        f"max_length {args.max_length}, batch {args.batch_size} pairs, lr {args.learning_rate}, fp32, seeds {seeds}; "
        f"accuracy on {args.test_pairs} held-out pairs"
    )
    print(f"{'trainer':28} {'seed':>4} {'pairs':>6} {'seconds':>8} {'pairs/s':>8} {'peak RSS MB':>12} {'accuracy':>9}")
    for name, label in (("trl", "TRL RewardTrainer (baseline)"), ("ours", "Oversight trainer")):
        for r in runs[name]:
            print(
                f"{label:28} {r['seed']:4d} {r['pairs']:6d} {r['seconds']:8.1f} {r['pairs'] / r['seconds']:8.2f} "
                f"{r['peak_rss_mb']:12.0f} {r['accuracy']:9.3f}"
            )

    def total(name: str, key: str) -> float:
        return sum(r[key] for r in runs[name])

    ours_rate = total("ours", "pairs") / total("ours", "seconds")
    trl_rate = total("trl", "pairs") / total("trl", "seconds")
    ratio = ours_rate / trl_rate
    accuracy = {name: total(name, "accuracy") / len(seeds) for name in runs}
    # Same seed, same test pairs: the per-seed difference is the paired measure of accuracy.
    differences = [o["accuracy"] - t["accuracy"] for o, t in zip(runs["ours"], runs["trl"], strict=True)]
    mean_difference = statistics.mean(differences)
    spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
    paired_t = mean_difference / (spread / len(differences) ** 0.5) if spread else None
    print(
        "accuracy, ours - TRL, per seed: "
        + " ".join(f"{d:+.3f}" for d in differences)
        + f"; mean {mean_difference:+.4f}, sd {spread:.4f}"
        + (f", paired t {paired_t:+.2f} ({len(differences) - 1} df)" if paired_t is not None else "")
    )
    same_pairs = [r["pairs"] for r in runs["ours"]] == [r["pairs"] for r in runs["trl"]]
    print(
        json.dumps(
            {
                "seeds": len(seeds),
                "pairs_per_s_ours": round(ours_rate, 2),
                "pairs_per_s_trl": round(trl_rate, 2),
                "ratio_pairs_per_s_vs_trl": round(ratio, 2),
                "mean_accuracy_ours": round(accuracy["ours"], 3),
                "mean_accuracy_trl": round(accuracy["trl"], 3),
                "mean_accuracy_difference": round(mean_difference, 4),
                "paired_t_accuracy": None if paired_t is None else round(paired_t, 2),
                "peak_rss_mb_ours": round(max(r["peak_rss_mb"] for r in runs["ours"])),
                "peak_rss_mb_trl": round(max(r["peak_rss_mb"] for r in runs["trl"])),
                "target_ratio": 1.5,
                "same_pairs": same_pairs,
                # equal at the precision reported (3 decimals: a few test pairs in thousands)
                "meets_target": ratio >= 1.5 and round(accuracy["ours"], 3) >= round(accuracy["trl"], 3) and same_pairs,
            }
        )
    )


if __name__ == "__main__":
    main()
