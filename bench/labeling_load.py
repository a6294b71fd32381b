"""Rater API under load: 64 simulated raters doing next → submit against gunicorn on PostgreSQL.

Target: ≥ 300 judgements/s; p99 `next` ≤ 50 ms; p50 `next` at the largest project within 1.5x of p50
at the smallest (1k items), i.e. claiming does not slow down as the project grows.

For each size: a fresh database, one comparison project (overlap 3, so raters compete for the same
items; leases long enough never to expire), N raters with API tokens, the items imported (short
40-character texts, in batches of 200k of equal priority). gunicorn then serves it on 127.0.0.1 and
one asyncio process drives the raters over keep-alive connections, each looping POST next → POST
submit with a random valid ranking, in two measured loads after a warm-up:

- max: raters go back to back. This gives the throughput; its latencies are mostly queueing, since
  with 64 raters and no pause mean latency = 64 / requests per second (Little's law).
- paced: raters together offer --rate judgements/s (300 by default). The latency targets are read
  here, where a fast enough server answers without a queue.

The load generator shares the machine's cores with gunicorn and PostgreSQL; the CPU each used is
printed so a reader can see the generator is not the bottleneck.

    ./oversight bench labeling_load [--sizes 1000,1000000] [--seconds 20] [--raters 64] [--rate 300]
"""

import argparse
import asyncio
import gc
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from _setup import ROOT, django_on_fresh_database

DATABASE = "oversight_bench_load"
IMPORT_CHUNK = 200_000
REQUEST_TIMEOUT_S = 30.0
SERVER_START_TIMEOUT_S = 60.0
MAX_ERROR_KINDS = 5
TARGET_P99_NEXT_MS = 50.0
TARGET_JUDGEMENTS_PER_S = 300.0
TARGET_P50_RATIO = 1.5


# --- set-up -------------------------------------------------------------------------------------


def items_jsonl(start: int, stop: int) -> bytes:
    """Comparison items with a 40-character prompt and two 40-character responses."""
    lines = []
    for i in range(start, stop):
        lines.append(
            orjson.dumps(
                {
                    "id": f"load-{i}",
                    "kind": "comparison",
                    "prompt": f"Question number {i:>12} for the raters?",
                    "responses": [
                        {"id": "a", "text": f"First answer to question {i:>12}, yes."},
                        {"id": "b", "text": f"Second answer to question {i:>12}, no."},
                    ],
                }
            )
        )
    return b"\n".join(lines) + b"\n"


def prepare_project(size: int, raters: int, overlap: int, analyze: bool) -> tuple[int, list[str], float]:
    """Fresh database with one project of `size` items and `raters` rater tokens; returns seconds spent.

    With `analyze`, the item and response tables get planner statistics right after the import, as
    autovacuum would give them some time later (it is off on some servers).
    """
    from django.apps import apps

    if apps.ready:  # a previous size's run: its database is about to be dropped
        from django.db import connections

        connections.close_all()
    started = time.perf_counter()
    django_on_fresh_database(DATABASE)
    from django.db import connections

    from labeling.models import Item, Response
    from labeling.services.batch_import import batch_import
    from labeling.services.projects import project_create, user_create_or_update

    admin, _, _ = user_create_or_update(username="load-admin", role="admin")
    project = project_create(created_by=admin, name=f"load {size}", overlap=overlap, lease_seconds=24 * 3600)
    for start in range(0, size, IMPORT_CHUNK):
        stop = min(size, start + IMPORT_CHUNK)
        batch_import(project=project, stream=io.BytesIO(items_jsonl(start, stop)), name=f"items {start}-{stop}")
        gc.collect()
    if analyze:
        with connections["default"].cursor() as cursor:
            for model in (Item, Response):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
    tokens = [
        user_create_or_update(username=f"rater-{n}", role="rater", project_ids=[project.pk])[1] for n in range(raters)
    ]
    connections.close_all()
    return project.pk, tokens, time.perf_counter() - started


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, args: argparse.Namespace, log: Path) -> subprocess.Popen:
    # Production-shaped: persistent database connections, Redis cache, Celery tasks queued on a Redis
    # database of the benchmark's own (no worker reads it, so nothing runs against the bench database).
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": args.server_settings,
        "DJANGO_DEBUG": "0",
        "DATABASE_CONN_MAX_AGE": "60",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        "--worker-class=gthread",
        f"--threads={args.threads}",
        "--keep-alive=30",
        "--log-level=warning",
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, never via a proxy
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with direct.open(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"gunicorn did not answer /healthz within {SERVER_START_TIMEOUT_S:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


# --- CPU accounting from /proc (Linux) ------------------------------------------------------------


def _ticks(pid: int, with_children: bool = False) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # fields[11..14] are utime, stime, cutime, cstime (stat fields 14..17)
    return int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if with_children else 0)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _postgres_ticks() -> int:
    """All postgres processes (every database on the server), plus backends already exited (postmaster cutime)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        total += _ticks(int(entry.name), with_children=ppid == 1 or not _is_postgres(ppid))
    return total


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass
class CpuSnapshot:
    client: float
    server: int
    postgres: int
    busy: int
    total: int

    @classmethod
    def take(cls, server: subprocess.Popen) -> "CpuSnapshot":
        # gunicorn workers are the master's children; count their CPU, and workers already reaped.
        server_ticks = _ticks(server.pid, with_children=True) + sum(_ticks(pid) for pid in _children(server.pid))
        busy, total = _machine_ticks()
        return cls(time.process_time(), server_ticks, _postgres_ticks(), busy, total)


def cpu_shares(before: CpuSnapshot, after: CpuSnapshot, wall: float) -> dict[str, float]:
    """CPU used during the run, in cores (1.0 = one core busy the whole time).

    `other` is whatever else ran on the machine meanwhile (kernel, other processes): when it is
    large, the figures were disturbed.
    """
    hz = os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    total = after.total - before.total
    shares = {
        "load_generator": (after.client - before.client) / wall,
        "gunicorn": (after.server - before.server) / hz / wall,
        "postgres": (after.postgres - before.postgres) / hz / wall,
        "machine": cores * (after.busy - before.busy) / total if total else 0.0,
    }
    shares["other"] = max(0.0, shares["machine"] - shares["load_generator"] - shares["gunicorn"] - shares["postgres"])
    return shares


# --- the simulated raters -----------------------------------------------------------------------


@dataclass
class Results:
    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    judgements: int = 0
    nothing_left: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)  # first few distinct errors → count

    def error(self, what: str) -> None:
        self.errors += 1
        what = " ".join(what.split())[:500]
        if what in self.error_kinds or len(self.error_kinds) < MAX_ERROR_KINDS:
            self.error_kinds[what] = self.error_kinds.get(what, 0) + 1


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1, JSON in and out; reconnects when closed."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = (
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Token {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: object) -> tuple[int, bytes]:
        body = orjson.dumps(payload)
        request = b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (path.encode(), self.headers, len(body), body)
        try:
            return await asyncio.wait_for(self._exchange(request), REQUEST_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def rater(
    port: int, project_id: int, token: str, deadline: float, interval: float, results: Results, rng: random.Random
) -> None:
    """Loop next → submit until the deadline, starting a cycle every `interval` seconds (0: back to back).

    A rater that falls behind its pace starts the next cycle at once, without bursting to catch up.
    """
    connection = Connection(port, token)
    next_path = f"/api/v1/projects/{project_id}/next/"
    due = time.perf_counter() + rng.uniform(0, interval)
    try:
        while True:
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            if time.perf_counter() >= deadline:
                return
            due = max(due + interval, time.perf_counter())
            started = time.perf_counter()
            try:
                status, body = await connection.post(next_path, {})
            except (OSError, asyncio.IncompleteReadError) as exc:  # TimeoutError is an OSError
                results.error(f"next: {exc!r}")
                await asyncio.sleep(0.1)
                continue
            results.next_ms.append((time.perf_counter() - started) * 1000)
            if status == 204:
                results.nothing_left += 1
                return  # a real rater stops when the project has nothing left for them
            if status != 200:
                results.error(f"next {status}: {body.decode(errors='replace')}")
                continue
            task = orjson.loads(body)
            ids = [r["id"] for r in task["responses"]]
            rng.shuffle(ids)
            answer = {"ranking": [[rid] for rid in ids], "strength": rng.randint(1, 3)}
            started = time.perf_counter()
            try:
                status, body = await connection.post(f"/api/v1/assignments/{task['assignment']}/submit/", answer)
            except (OSError, asyncio.IncompleteReadError) as exc:
                results.error(f"submit: {exc!r}")
                await asyncio.sleep(0.1)
                continue
            results.submit_ms.append((time.perf_counter() - started) * 1000)
            if status == 201:
                results.judgements += 1
            else:
                results.error(f"submit {status}: {body.decode(errors='replace')}")
    finally:
        connection.close()


async def drive(
    port: int, project_id: int, tokens: list[str], seconds: float, rate: float, seed: int
) -> tuple[Results, float]:
    """Run every rater for `seconds`, together offering `rate` judgements/s (0: as fast as answered).

    A request in flight at the deadline finishes and counts; the wall time includes it.
    """
    results = Results()
    interval = len(tokens) / rate if rate else 0.0
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            rater(port, project_id, token, deadline, interval, results, random.Random(seed * 1000 + n))
            for n, token in enumerate(tokens)
        )
    )
    return results, time.perf_counter() - started


# --- report ---------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def label(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    if size >= 1_000 and size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def first_logged_error(log: Path) -> str:
    """The first ERROR record of the server log, traceback included."""
    lines = log.read_text(errors="replace").splitlines()
    start = next((n for n, line in enumerate(lines) if " ERROR " in line), None)
    if start is None:
        return "(no ERROR record)"
    end = next((n for n in range(start + 1, len(lines)) if lines[n][:4].isdigit() and " ERROR " not in lines[n]), None)
    return "\n".join(lines[start : end or len(lines)][:80])


@dataclass
class Phase:
    """One measured load on one project size."""

    size: int
    rate: float  # offered judgements/s; 0 = raters go back to back (saturation)
    wall_s: float
    results: Results
    cpu: dict[str, float]

    @property
    def judgements_per_s(self) -> float:
        return self.results.judgements / self.wall_s

    @property
    def load(self) -> str:
        return f"{self.rate:g}/s" if self.rate else "max"

    def next_ms(self, p: float) -> float:
        return percentile(self.results.next_ms, p)


def run_size(size: int, args: argparse.Namespace) -> list[Phase]:
    """Set up one project size, then measure it at saturation and, if asked, at the paced rate."""
    project_id, tokens, setup_s = prepare_project(size, args.raters, args.overlap, args.analyze)
    print(f"[{label(size)}] {size:,} items and {args.raters} raters set up in {setup_s:.1f} s", flush=True)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"labeling_load_gunicorn_{label(size)}.log"
    port = free_port()
    server = start_server(port, args, log)
    phases = []
    try:
        asyncio.run(drive(port, project_id, tokens, args.warmup, rate=0, seed=0))
        for rate in [0.0] + ([args.rate] if args.rate else []):
            before = CpuSnapshot.take(server)
            results, wall = asyncio.run(drive(port, project_id, tokens, args.seconds, rate, seed=size + int(rate)))
            phases.append(Phase(size, rate, wall, results, cpu_shares(before, CpuSnapshot.take(server), wall)))
            print(f"[{label(size)}] {phases[-1].load}: {results.judgements} judgements in {wall:.1f} s", flush=True)
    finally:
        stop_server(server)
    if any(phase.results.errors for phase in phases):
        print(f"[{label(size)}] first server error ({log}):\n{first_logged_error(log)}", flush=True)
    return phases


def print_table(phases: list[Phase], args: argparse.Namespace) -> None:
    cores = os.cpu_count()
    statistics = "ANALYZE" if args.analyze else "no ANALYZE"
    print(
        f"\nRater API load: {args.raters} raters looping next → submit, {args.seconds:g} s per load after "
        f"{args.warmup:g} s warm-up; overlap {args.overlap}; {statistics} after import;\n"
        f"gunicorn gthread {args.workers}x{args.threads}, {args.server_settings}, PostgreSQL; "
        f"{cores} cores shared by server, database and load generator"
    )
    print(
        f"{'items':>10} {'load':>6} {'requests':>9} {'judg/s':>7} {'next p50':>9} {'p95':>7} {'p99':>7} "
        f"{'submit p50':>11} {'p99':>7} {'204s':>5} {'errors':>6}"
    )
    for phase in phases:
        r = phase.results
        print(
            f"{phase.size:>10,} {phase.load:>6} {len(r.next_ms) + len(r.submit_ms):>9,} "
            f"{phase.judgements_per_s:>7.1f} {phase.next_ms(50):>9.1f} {phase.next_ms(95):>7.1f} "
            f"{phase.next_ms(99):>7.1f} {percentile(r.submit_ms, 50):>11.1f} {percentile(r.submit_ms, 99):>7.1f} "
            f"{r.nothing_left:>5} {r.errors:>6}"
        )
    print(
        "load: max = raters go back to back (throughput); N/s = raters paced to offer N judgements/s (latency).\n"
        "Latencies in ms at the client. 204s: raters told nothing is left (they stop; the figures are then not\n"
        "steady state). Errors: any non-2xx answer or failed connection."
    )
    print(f"\n{'items':>10} {'load':>6}  CPU in cores ({cores} available)")
    for phase in phases:
        shares = ", ".join(f"{name} {value:.2f}" for name, value in phase.cpu.items())
        print(f"{phase.size:>10,} {phase.load:>6}  {shares}")
    for phase in phases:
        for body, count in phase.results.error_kinds.items():
            print(f"[{label(phase.size)} {phase.load}] {count}x error: {body}")


def headline(phases: list[Phase], args: argparse.Namespace) -> dict:
    """Throughput from the saturating load; latencies from the paced load (from saturation without one)."""
    sizes = sorted({phase.size for phase in phases})
    small, big = sizes[0], sizes[-1]
    s, b = label(small), label(big)

    def phase(size: int, paced: bool) -> Phase:
        wanted = args.rate if paced and args.rate else 0.0
        return next(p for p in phases if p.size == size and p.rate == wanted)

    p99_next = phase(big, paced=True).next_ms(99)
    p50_small, p50_big = phase(small, paced=True).next_ms(50), phase(big, paced=True).next_ms(50)
    ratio = p50_big / p50_small
    throughput = {size: phase(size, paced=False).judgements_per_s for size in sizes}
    result = {
        f"p99_next_ms_{b}": round(p99_next, 1),
        f"p50_next_ms_{s}": round(p50_small, 1),
        f"p50_next_ms_{b}": round(p50_big, 1),
        f"p50_ratio_{b}_vs_{s}": round(ratio, 2),
        f"judgements_per_s_{b}": round(throughput[big], 1),
        f"judgements_per_s_{s}": round(throughput[small], 1),
        "latency_load": f"{args.rate:g} judgements/s offered" if args.rate else "saturation",
    }
    if args.rate:
        result[f"paced_judgements_per_s_{b}"] = round(phase(big, paced=True).judgements_per_s, 1)
    result |= {
        "errors": sum(p.results.errors for p in phases),
        "raters": args.raters,
        "targets_met": {
            "p99_next_le_50ms": p99_next <= TARGET_P99_NEXT_MS,
            "judgements_per_s_ge_300": min(throughput.values()) >= TARGET_JUDGEMENTS_PER_S,
            "p50_ratio_le_1_5": ratio <= TARGET_P50_RATIO,
        },
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", default="1000,1000000", help="comma-separated item counts; the smallest is the baseline"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load per size")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured load before each measurement")
    parser.add_argument("--raters", type=int, default=64)
    parser.add_argument(
        "--rate",
        type=float,
        default=TARGET_JUDGEMENTS_PER_S,
        help="judgements/s the raters offer together in the paced load that latencies are read from; 0: none",
    )
    parser.add_argument("--overlap", type=int, default=3, help="distinct raters per item")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE items and responses after the import")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument(
        "--server-settings",
        default="config.settings.base",
        help="DJANGO_SETTINGS_MODULE of the server (base: what production runs, minus TLS settings)",
    )
    args = parser.parse_args()
    sizes = sorted(int(part) for part in args.sizes.split(","))
    phases = [phase for size in sizes for phase in run_size(size, args)]
    print_table(phases, args)
    print(json.dumps(headline(phases, args)))


if __name__ == "__main__":
    main()
