"""Reward-model training: our trainer vs TRL's RewardTrainer, same data, backbone, lengths and batch.

Both train the bundled MiniLM-L6 encoder for one epoch on the same HH-RLHF pairs (max length, batch
size, learning rate and seed equal; dropout on in both), each in its own process so peak memory is its
own; then both checkpoints are scored on the same held-out pairs with the same scoring code.
Reported: pairs/s (wall time of set-up + training, model load included), peak RSS, held-out accuracy.

    ./oversight bench rm_bench [--train-pairs 1024] [--test-pairs 400] [--max-length 256] [--batch-size 16]
"""

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._setup import HH_FILE  # noqa: E402


def hh_rows() -> list[dict]:
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


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(2)
    rows = hh_rows()
    train_rows = rows[: args.train_pairs]
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
        train(config=config, train_groups=build_groups(train_rows, use_margin=False), output_dir=output)
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
            disable_dropout=False,
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
        model_dir = output / "model"
        trainer.model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"seconds": seconds, "pairs": len(train_rows), "peak_rss_mb": peak_mb, "model_dir": str(model_dir)})
    )


def held_out_accuracy(model_dir: str, rows: list[dict], max_length: int) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardmodel.training.data import build_groups
    from rewardmodel.training.evaluation import evaluate
    from rewardmodel.training.trainer import score_groups

    groups = build_groups(rows, use_margin=False)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
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
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    rows = hh_rows()
    test_rows = rows[-args.test_pairs :]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("trl", "ours"):
            command = [sys.executable, __file__, "--child", name, "--output", f"{tmp}/{name}"] + [
                f"--{k.replace('_', '-')}={v}"
                for k, v in vars(args).items()
                if k not in ("child", "output") and v is not None
            ]
            out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
            result = json.loads(out.strip().splitlines()[-1])
            result["accuracy"] = held_out_accuracy(result["model_dir"], test_rows, args.max_length)
            results[name] = result
    print(
        f"Reward-model training, MiniLM-L6 (bundled), {args.train_pairs} HH-RLHF train pairs, 1 epoch, "
        f"max_length {args.max_length}, batch {args.batch_size} pairs, lr {args.learning_rate}, seed {args.seed}; "
        f"accuracy on {args.test_pairs} held-out pairs"
    )
    print(f"{'trainer':28} {'seconds':>8} {'pairs/s':>8} {'peak RSS MB':>12} {'accuracy':>9}")
    for name, label in (("trl", "TRL RewardTrainer (baseline)"), ("ours", "Oversight trainer")):
        r = results[name]
        print(
            f"{label:28} {r['seconds']:8.1f} {r['pairs'] / r['seconds']:8.2f} {r['peak_rss_mb']:12.0f} {r['accuracy']:9.3f}"
        )
    ours, trl = results["ours"], results["trl"]
    ratio = (ours["pairs"] / ours["seconds"]) / (trl["pairs"] / trl["seconds"])
    print(
        json.dumps(
            {
                "pairs_per_s_ours": round(ours["pairs"] / ours["seconds"], 2),
                "pairs_per_s_trl": round(trl["pairs"] / trl["seconds"], 2),
                "ratio_pairs_per_s_vs_trl": round(ratio, 2),
                "accuracy_ours": round(ours["accuracy"], 3),
                "accuracy_trl": round(trl["accuracy"], 3),
                "peak_rss_mb_ours": round(ours["peak_rss_mb"]),
                "peak_rss_mb_trl": round(trl["peak_rss_mb"]),
                "target_ratio": 1.5,
                "meets_target": ratio >= 1.5 and ours["accuracy"] >= trl["accuracy"],
            }
        )
    )


if __name__ == "__main__":
    main()
