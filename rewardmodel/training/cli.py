"""Train a reward model from snapshot files, without Django: the same trainer the worker runs, for
several GPUs under `accelerate launch` or `torchrun`.

    accelerate launch --num_processes 4 -m rewardmodel.training.cli \\
        --snapshot-dir var/media/exports/12 --output runs/rm-12 --base-model meta-llama/Llama-3.2-1B
    torchrun --nproc_per_node 4 -m rewardmodel.training.cli --snapshot-dir ... --output ...

The snapshot folder holds train.jsonl / test.jsonl (TRL JSONL) or train.parquet / test.parquet. Each
process takes its share of the batches and the Accelerator averages gradients. Run it again with the
same --output to resume from the last checkpoint. The main process prints the test metrics as JSON.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rewardmodel.training.data import build_groups, read_jsonl
from rewardmodel.training.trainer import TrainConfig, score_groups, train


def read_split(directory: Path, split: str) -> list[dict[str, Any]]:
    jsonl, parquet = directory / f"{split}.jsonl", directory / f"{split}.parquet"
    if jsonl.is_file():
        return list(read_jsonl(jsonl))
    if parquet.is_file():
        import pyarrow.parquet as pq

        return pq.read_table(parquet).to_pylist()
    return []


def main(argv: list[str] | None = None) -> int:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot-dir", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True, help="Run folder: model/ and checkpoint/ go here.")
    parser.add_argument("--base-model", default=defaults.base_model)
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="Pairs per step, per process.")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-margin", action="store_true")
    parser.add_argument("--dropout", action="store_true", help="Train with the model's dropout (off by default).")
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    args = parser.parse_args(argv)
    config = TrainConfig(
        base_model=args.base_model,
        max_length=args.max_length,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        seed=args.seed,
        use_margin=not args.no_margin,
        dropout=args.dropout,
        checkpoint_every=args.checkpoint_every,
    )
    train_groups = build_groups(read_split(args.snapshot_dir, "train"), use_margin=config.use_margin)
    if not train_groups:
        print(f"No train rows in {args.snapshot_dir}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    summary = train(config=config, train_groups=train_groups, output_dir=args.output)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return 0
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rewardmodel.training.evaluation import evaluate

    test_groups = build_groups(read_split(args.snapshot_dir, "test"), use_margin=config.use_margin)
    model = AutoModelForSequenceClassification.from_pretrained(args.output / "model")
    tokenizer = AutoTokenizer.from_pretrained(args.output / "model")
    rewards = score_groups(model, tokenizer, test_groups, max_length=config.max_length) if test_groups else []
    metrics = evaluate(test_groups, rewards)
    (args.output / "model" / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps({"steps": summary.get("step"), "pairs_per_second": summary.get("pairs_per_second"), **metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
