"""Preference export throughput and memory: judgements on PostgreSQL to TRL JSONL and Parquet.

Target (PRODUCT.md): ≥ 100k rows/s, and peak memory flat in dataset size (< 300 MB at 1M judgements).

Set-up, once per size, in a fresh database `oversight_bench_export`: a comparison project (overlap 3,
three raters), size/3 items imported through `batch_import` with real HH-RLHF text (prompt ~ 1 kB,
responses ~ 0.3 kB each, a per-item suffix so no two items share text), then one assignment and one
judgement per item and rater written by INSERT ... SELECT on the server (the benchmark measures the
export, not the judging). Rankings and strengths vary deterministically with the item.

Each export then runs in a fresh Python process (`snapshot_create(..., run_inline=True)`: the same service
as the API, command and worker; aggregation "every", so one row per judgement; 10% test split), which
reports its wall time, its own peak RSS (VmHWM: the whole process, Django and pyarrow included), and the
CPU time it and its PostgreSQL backend used.

    ./oversight bench export_bench [--sizes 100000,1000000] [--formats trl-jsonl,parquet]
"""

import argparse
import gc
import gzip
import io
import json
import os
import subprocess
import sys
import time

from _setup import HH_FILE, ROOT, django_on_fresh_database

DATABASE = "oversight_bench_export"
RATERS = 3
IMPORT_CHUNK = 50_000
TARGET_ROWS_PER_S = 100_000
TARGET_PEAK_MB = 300


def hh_texts() -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) from the shared HH-RLHF file."""
    with gzip.open(HH_FILE, "rt") as f:
        pairs = [json.loads(line) for line in f]
    out = []
    for pair in pairs:
        prompt, _, chosen = pair["chosen"].rpartition("\n\nAssistant:")
        rejected = pair["rejected"].rpartition("\n\nAssistant:")[2]
        out.append((prompt.strip(), chosen.strip(), rejected.strip()))
    return out


def items_jsonl(texts: list[tuple[str, str, str]], start: int, stop: int) -> bytes:
    import orjson

    lines = []
    for i in range(start, stop):
        prompt, chosen, rejected = texts[i % len(texts)]
        lines.append(
            orjson.dumps(
                {
                    "id": f"bench-{i}",
                    "kind": "comparison",
                    "prompt": f"{prompt} (#{i})",
                    "responses": [
                        {"id": "a", "text": f"{chosen} (#{i}a)", "model": "m1"},
                        {"id": "b", "text": f"{rejected} (#{i}b)", "model": "m2"},
                    ],
                }
            )
        )
    return b"\n".join(lines) + b"\n"


def prepare(judgements: int) -> tuple[int, float]:
    """Fresh database with one project holding `judgements` judgements; returns (project id, seconds)."""
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()
    started = time.perf_counter()
    django_on_fresh_database(DATABASE)
    from django.db import connection, connections

    from labeling.services.batch_import import batch_import
    from labeling.services.projects import project_create, user_create_or_update

    ml, _, _ = user_create_or_update(username="bench-ml", role="ml")
    project = project_create(created_by=ml, name=f"export {judgements}", overlap=RATERS, lease_seconds=3600)
    raters = [
        user_create_or_update(username=f"rater-{n}", role="rater", project_ids=[project.pk])[0] for n in range(RATERS)
    ]
    texts = hh_texts()
    items = -(-judgements // RATERS)
    for start in range(0, items, IMPORT_CHUNK):
        stop = min(items, start + IMPORT_CHUNK)
        batch_import(project=project, stream=io.BytesIO(items_jsonl(texts, start, stop)), name=f"{start}-{stop}")
        gc.collect()
    from labeling.models import Assignment, Judgement

    with connection.cursor() as cursor:
        for index, rater in enumerate(raters):
            # The last rater judges only what is left to reach exactly `judgements`.
            limit = judgements - index * items if index == RATERS - 1 else items
            insert_select(
                cursor,
                Assignment,
                {
                    "project_id": "b.project_id",
                    "item_id": "i.id",
                    "rater_id": str(rater.pk),
                    "status": "'submitted'",
                    "created_at": "now() - interval '1 hour'",
                    "expires_at": "now()",
                    "completed_at": "now()",
                    "display_order": """'["a", "b"]'::jsonb""",
                },
                "FROM labeling_item i JOIN labeling_batch b ON b.id = i.batch_id "
                f"WHERE b.project_id = {project.pk} ORDER BY i.id LIMIT {limit}",
            )
        insert_select(
            cursor,
            Judgement,
            {
                "assignment_id": "a.id",
                "project_id": "a.project_id",
                "item_id": "a.item_id",
                "rater_id": "a.rater_id",
                "ranking": """(CASE WHEN (a.item_id * 7 + a.rater_id) % 5 < 3
                               THEN '[["a"], ["b"]]' ELSE '[["b"], ["a"]]' END)::jsonb""",
                "strength": "1 + (a.item_id + a.rater_id) % 3",
                "display_order": "a.display_order",
                "time_spent_ms": "4000",
            },
            f"FROM labeling_assignment a WHERE a.project_id = {project.pk} ORDER BY a.id",
        )
        cursor.execute(
            """
            UPDATE labeling_item i SET judgement_count = c.n
            FROM (SELECT item_id, count(*) AS n FROM labeling_judgement GROUP BY item_id) c WHERE c.item_id = i.id
            """
        )
        cursor.execute("ANALYZE")
    connections.close_all()
    return project.pk, time.perf_counter() - started


def insert_select(cursor, model, computed: dict[str, str], source: str) -> None:  # type: ignore[no-untyped-def]
    """INSERT INTO model's table SELECT ... on the server: `computed` gives SQL for some columns, every other
    column gets the model field's default (so the set-up keeps working as models gain fields)."""
    from django.db import connection

    template = model()
    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in computed:
            values.append(computed[field.column].replace("%", "%%"))
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(template, add=True), connection))
    cursor.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {source}", params
    )


def child(project_id: int, export_format: str) -> None:
    """One export in this (fresh) process; prints a JSON line with seconds, rows and peak RSS."""
    os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from rewardmodel.services.snapshots import ExportDefinition, snapshot_create

    settings.MEDIA_ROOT = ROOT / "var" / "bench-media"
    user = get_user_model().objects.get(username="bench-ml")
    db_cpu_before = db_backend_cpu_s()
    rss_before = peak_rss_mb()
    cpu_before = time.process_time()
    started = time.perf_counter()
    snapshot = snapshot_create(
        definition=ExportDefinition(format=export_format, projects=(project_id,), test_fraction=0.1),
        created_by=user,
        run_inline=True,
    )
    seconds = time.perf_counter() - started
    assert snapshot.status == "done", snapshot.error
    result = {
        "seconds": seconds,
        "rows": snapshot.total_rows,
        "bytes": sum(f["bytes"] for f in snapshot.files),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "python_cpu_s": time.process_time() - cpu_before,
        "db_cpu_s": db_backend_cpu_s() - db_cpu_before,
        "content_hash": snapshot.content_hash,
    }
    import shutil

    shutil.rmtree(snapshot.directory, ignore_errors=True)
    print("RESULT " + json.dumps(result))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that over from the parent
    through fork and exec, so a child of a big parent would report the parent's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def db_backend_cpu_s() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (same machine: /proc)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(project_id: int, export_format: str) -> dict:
    command = [sys.executable, __file__, "--child", str(project_id), "--format", export_format]
    done = subprocess.run(command, cwd=ROOT / "bench", capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"export child failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000", help="Judgements per run, comma-separated.")
    parser.add_argument("--formats", default="trl-jsonl,parquet")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.format)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = args.formats.split(",")
    results = []
    for size in sizes:
        project_id, setup_s = prepare(size)
        print(f"set-up of {size:,} judgements: {setup_s:.0f} s", flush=True)
        for export_format in formats:
            outcome = run_child(project_id, export_format)
            outcome.update(size=size, format=export_format, rows_per_s=outcome["rows"] / outcome["seconds"])
            results.append(outcome)
            print(
                f"  {export_format}: {outcome['rows']:,} rows in {outcome['seconds']:.2f} s, "
                f"peak RSS {outcome['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    print()
    print("Export of judgements to files (aggregation: every judgement; 10% test split), PostgreSQL, this box")
    print(
        f"{'judgements':>11} {'format':10} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'MB out':>7} "
        f"{'peak RSS MB':>12} {'Python CPU s':>13} {'DB CPU s':>9}"
    )
    for r in results:
        print(
            f"{r['size']:>11,} {r['format']:10} {r['rows']:>10,} {r['seconds']:>8.2f} {r['rows_per_s']:>9,.0f} "
            f"{r['bytes'] / 1e6:>7.0f} {r['peak_rss_mb']:>12.0f} {r['python_cpu_s']:>13.2f} {r['db_cpu_s']:>9.2f}"
        )
    largest = max(sizes)
    smallest = min(sizes)
    peak_largest = max(r["peak_rss_mb"] for r in results if r["size"] == largest)
    peak_smallest = max(r["peak_rss_mb"] for r in results if r["size"] == smallest)
    slowest = min(r["rows_per_s"] for r in results)
    summary = {
        "judgements": largest,
        "rows_per_s": {f"{r['format']}@{r['size']}": round(r["rows_per_s"]) for r in results},
        "min_rows_per_s": round(slowest),
        "peak_rss_mb": {f"{r['format']}@{r['size']}": round(r["peak_rss_mb"]) for r in results},
        "peak_rss_ratio_largest_vs_smallest": round(peak_largest / peak_smallest, 2),
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "target_peak_mb": TARGET_PEAK_MB,
        "meets_target": slowest >= TARGET_ROWS_PER_S and peak_largest < TARGET_PEAK_MB,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
