"""The trainer under torchrun with two processes (gloo on CPU): the same code path as several GPUs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_cli_trains_under_torchrun_with_two_processes(tmp_path, hh_file):
    import gzip

    rows = []
    with gzip.open(hh_file, "rt") as lines:
        for _, line in zip(range(40), lines, strict=False):
            pair = json.loads(line)
            common = os.path.commonprefix([pair["chosen"], pair["rejected"]])
            cut = common.rfind("\n\nAssistant:") + len("\n\nAssistant:")
            rows.append(
                {"prompt": pair["chosen"][:cut], "chosen": pair["chosen"][cut:], "rejected": pair["rejected"][cut:]}
            )
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:32]))
    (snapshot / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[32:]))
    torchrun = Path(sys.executable).parent / "torchrun"

    result = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "-m",
            "rewardmodel.training.cli",
            "--snapshot-dir",
            str(snapshot),
            "--output",
            str(tmp_path / "run"),
            "--max-length",
            "32",
            "--batch-size",
            "4",
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["steps"] == 4  # 8 batches of 4 pairs shared by 2 processes
    assert metrics["pairs"] == 8
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
