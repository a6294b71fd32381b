"""Rater API under load: 64 simulated raters doing next → submit against gunicorn on PostgreSQL.

Target: p99 `next` ≤ 50 ms, ≥ 300 judgements/s, and p50 `next` at the largest project within 1.5x of
p50 at the smallest (1k items), i.e. the claim does not slow down as the project grows.

For each size: a fresh database, one comparison project (overlap 3, so raters compete for the same
items; leases long enough never to expire), N raters with API tokens, the items imported (short
40-character texts, in batches of 200k of equal priority). Then gunicorn serves the project on
127.0.0.1 with the test settings, and one asyncio process drives the raters over keep-alive
connections for a fixed time: each loops POST next → POST submit with a random valid ranking.
The load generator shares the machine's cores with gunicorn and PostgreSQL; its own CPU time is
printed so a reader can see it is not the bottleneck.

    ./oversight bench labeling_load [--sizes 1000,1000000] [--seconds 20] [--raters 64]
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
MAX_ERROR_BODIES = 5
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


def prepare_project(size: int, raters: int) -> tuple[int, list[str], float]:
    """Fresh database with one project of `size` items and `raters` rater tokens; returns seconds spent."""
    from django.apps import apps

    if apps.ready:  # a previous size's run: its database is about to be dropped
        from django.db import connections

        connections.close_all()
    started = time.perf_counter()
    django_on_fresh_database(DATABASE)
    from django.db import connections

    from labeling.services.batch_import import batch_import
    from labeling.services.projects import project_create, user_create_or_update

    admin, _, _ = user_create_or_update(username="load-admin", role="admin")
    project = project_create(created_by=admin, name=f"load {size}", overlap=3, lease_seconds=24 * 3600)
    for start in range(0, size, IMPORT_CHUNK):
        stop = min(size, start + IMPORT_CHUNK)
        batch_import(project=project, stream=io.BytesIO(items_jsonl(start, stop)), name=f"items {start}-{stop}")
        gc.collect()
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


def start_server(port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DJANGO_DEBUG": "0"}
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--keep-alive=30",
        "--log-level=warning",
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
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
    """All postgres processes, plus the CPU of backends that already exited (the postmaster's cutime)."""
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
    """CPU used during the run, in cores (1.0 = one core busy the whole time)."""
    hz = os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    total = after.total - before.total
    return {
        "load_generator": (after.client - before.client) / wall,
        "gunicorn": (after.server - before.server) / hz / wall,
        "postgres": (after.postgres - before.postgres) / hz / wall,
        "machine": cores * (after.busy - before.busy) / total if total else 0.0,
    }


# --- the simulated raters -----------------------------------------------------------------------


@dataclass
class Results:
    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    judgements: int = 0
    nothing_left: int = 0
    errors: int = 0
    error_bodies: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_bodies) < MAX_ERROR_BODIES:
            self.error_bodies.append(what[:2000])


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
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            return await asyncio.wait_for(self._exchange(request), REQUEST_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
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


async def rater(port: int, project_id: int, token: str, deadline: float, results: Results, rng: random.Random) -> None:
    connection = Connection(port, token)
    next_path = f"/api/v1/projects/{project_id}/next/"
    try:
        while time.perf_counter() < deadline:
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


async def drive(port: int, project_id: int, tokens: list[str], seconds: float, seed: int) -> tuple[Results, float]:
    """Run every rater until `seconds` have passed; a request in flight at the deadline finishes."""
    results = Results()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            rater(port, project_id, token, deadline, results, random.Random(seed * 1000 + n))
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


@dataclass
class SizeRun:
    size: int
    setup_s: float
    wall_s: float
    results: Results
    cpu: dict[str, float]

    @property
    def judgements_per_s(self) -> float:
        return self.results.judgements / self.wall_s


def run_size(size: int, args: argparse.Namespace) -> SizeRun:
    project_id, tokens, setup_s = prepare_project(size, args.raters)
    print(f"[{label(size)}] {size:,} items and {args.raters} raters set up in {setup_s:.1f} s", flush=True)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"labeling_load_gunicorn_{label(size)}.log"
    port = free_port()
    server = start_server(port, args.workers, args.threads, log)
    try:
        asyncio.run(drive(port, project_id, tokens, args.warmup, seed=0))
        before = CpuSnapshot.take(server)
        results, wall = asyncio.run(drive(port, project_id, tokens, args.seconds, seed=size))
        cpu = cpu_shares(before, CpuSnapshot.take(server), wall)
    finally:
        stop_server(server)
    if results.errors:
        print(f"[{label(size)}] server log tail ({log}):\n{log.read_text()[-4000:]}", flush=True)
    return SizeRun(size, setup_s, wall, results, cpu)


def print_table(runs: list[SizeRun], args: argparse.Namespace) -> None:
    cores = os.cpu_count()
    print(
        f"\nRater API load: {args.raters} raters looping next → submit for {args.seconds:g} s per size "
        f"(after {args.warmup:g} s warm-up); gunicorn gthread {args.workers}x{args.threads}, "
        f"config.settings.test, PostgreSQL, {cores} cores shared with the load generator"
    )
    header = (
        f"{'items':>10} {'requests':>9} {'judg/s':>7} {'next p50':>9} {'p95':>7} {'p99':>7} "
        f"{'submit p50':>11} {'p99':>7} {'204s':>5} {'errors':>6}"
    )
    print(header)
    for run in runs:
        r = run.results
        print(
            f"{run.size:>10,} {len(r.next_ms) + len(r.submit_ms):>9,} {run.judgements_per_s:>7.1f} "
            f"{percentile(r.next_ms, 50):>9.1f} {percentile(r.next_ms, 95):>7.1f} {percentile(r.next_ms, 99):>7.1f} "
            f"{percentile(r.submit_ms, 50):>11.1f} {percentile(r.submit_ms, 99):>7.1f} "
            f"{r.nothing_left:>5} {r.errors:>6}"
        )
    print("latencies in ms, measured at the client; 204s: raters told nothing is left (they stop)")
    print(f"\n{'items':>10}  CPU in cores during the run ({cores} available)")
    for run in runs:
        shares = ", ".join(f"{name} {value:.2f}" for name, value in run.cpu.items())
        print(f"{run.size:>10,}  {shares}")
    for run in runs:
        for body in run.results.error_bodies:
            print(f"[{label(run.size)}] error: {body}")


def headline(runs: list[SizeRun], raters: int) -> dict:
    base, big = runs[0], runs[-1]
    b, s = label(big.size), label(base.size)
    p99_next = percentile(big.results.next_ms, 99)
    p50_base, p50_big = percentile(base.results.next_ms, 50), percentile(big.results.next_ms, 50)
    ratio = p50_big / p50_base
    return {
        f"p99_next_ms_{b}": round(p99_next, 1),
        f"p50_next_ms_{s}": round(p50_base, 1),
        f"p50_next_ms_{b}": round(p50_big, 1),
        f"p50_ratio_{b}_vs_{s}": round(ratio, 2),
        f"judgements_per_s_{b}": round(big.judgements_per_s, 1),
        f"judgements_per_s_{s}": round(base.judgements_per_s, 1),
        "errors": sum(run.results.errors for run in runs),
        "raters": raters,
        "targets_met": {
            "p99_next_le_50ms": p99_next <= TARGET_P99_NEXT_MS,
            "judgements_per_s_ge_300": min(run.judgements_per_s for run in runs) >= TARGET_JUDGEMENTS_PER_S,
            "p50_ratio_le_1_5": ratio <= TARGET_P50_RATIO,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,1000000", help="comma-separated item counts, smallest first")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load per size")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured load before each measurement")
    parser.add_argument("--raters", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    args = parser.parse_args()
    sizes = sorted(int(part) for part in args.sizes.split(","))
    runs = [run_size(size, args) for size in sizes]
    print_table(runs, args)
    print(json.dumps(headline(runs, args.raters)))


if __name__ == "__main__":
    main()
