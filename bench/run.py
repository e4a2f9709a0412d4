"""Benchmark the task platform against raw Celery, in one run, on a private Redis.

    cd /work/main && .venv/bin/python bench/run.py [--tasks N] [--reps R] [--quick]

(a) HTTP enqueue latency of POST /api/tasks (20 keep-alive clients, saturated and paced);
(b) enqueue rate: CeleryTaskService.enqueue_many against a raw Celery `.delay()` loop;
(c) end-to-end and drain no-op throughput, ours (`maintenance.ping`, tracked) against raw
    Celery (`raw.noop`, bench/raw_app.py) with the same pool and concurrency.

The machine is small and noisy (see /work/shared/BENCHMARKS.md): measurements are repeated,
ours and raw interleaved, and reported as median (min-max) and as ratios within this run.
Every child process runs in its own process group and is stopped (SIGTERM, SIGKILL after
10 s) on exit, error or Ctrl-C; every wait has a timeout, reported as that measurement failing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_PATH = ROOT / "bench" / "results" / "latest.json"
KEY_PREFIX = "ltqbench:"
PING = "maintenance.ping"
CHUNK = 1000
POLL_S = 0.05
READY_TIMEOUT_S = 60.0
STALL_TIMEOUT_S = 30.0
MIGRATE_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 180.0
DASH = "\u2013"  # en dash, as in /work/shared/BENCHMARKS.md
# Issue 13's targets for (a): saturated throughput against the bare endpoint's, tail latency.
HTTP_RATIO_TARGET = 0.6
HTTP_TAIL_TARGET = 4.0  # saturated p99 <= this x p50
HTTP_PACED_P99_MS = 10.0


def _documents_section(argv: list[str]) -> dict[str, Any]:
    from bench import documents

    return documents.main(argv)


def _memory_section(argv: list[str]) -> dict[str, Any]:
    from bench import memory

    return {k: v for k, v in memory.main(argv).items() if k != "samples"}


# Sections run by scripts of their own (runnable alone too), their figures put in the JSON.
EXTRA_SECTIONS: dict[str, Callable[[list[str]], dict[str, Any]]] = {
    "documents": _documents_section,
    "memory": _memory_section,
}


class MeasurementError(Exception):
    """One measurement failed (timeout, dead worker, wrong count); the run goes on."""


@dataclass(frozen=True)
class WorkerConfig:
    key: str
    label: str
    pool: str
    concurrency: int
    processes: int


CONFIGS = {
    "prefork": WorkerConfig("prefork", "prefork -c 2", "prefork", 2, 1),
    "threads": WorkerConfig("threads", "threads -c 8", "threads", 8, 1),
    "solo": WorkerConfig("solo", "2 x solo", "solo", 1, 2),
}


# --- small helpers ---------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summary(values: Sequence[float | None]) -> dict[str, Any]:
    ok = [v for v in values if v is not None]
    if not ok:
        return {"median": None, "min": None, "max": None, "values": list(values)}
    return {
        "median": statistics.median(ok),
        "min": min(ok),
        "max": max(ok),
        "values": list(values),
        "failed": len(values) - len(ok),
    }


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "FAILED"
    return f"{value:,.{digits}f}"


def fmt_summary(s: dict[str, Any] | None, digits: int = 0) -> str:
    if not s or s.get("median") is None:
        return "FAILED"
    low, high = fmt_num(s["min"], digits), fmt_num(s["max"], digits)
    text = f"{fmt_num(s['median'], digits)} ({low}{DASH}{high})"
    if s.get("failed"):
        text += f" [{s['failed']} failed]"
    return text


def say(line: str) -> None:
    print(line, flush=True)


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def exact_command() -> str:
    exe = Path(sys.executable)
    try:
        shown = str(exe.relative_to(ROOT))
    except ValueError:
        shown = str(exe)
    return f"cd {ROOT} && {shlex.join([shown, *sys.argv])}"


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, what: str, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise MeasurementError(f"timeout after {timeout_s:.0f}s waiting for {what}")


HTTP_FIELDS = ("p50_ms", "p99_ms", "max_ms", "p99_over_p50", "req_s", "cpu_ms_per_req")


def http_row(latencies_s: Sequence[float], elapsed_s: float, cpu_s: float) -> dict[str, float]:
    """One HTTP load's figures: latency percentiles, rate, server CPU per request."""
    lat = sorted(latencies_s)
    p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
    return {
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": lat[-1] * 1000,
        "p99_over_p50": p99 / p50 if p50 else float("nan"),
        "req_s": len(lat) / elapsed_s,
        "cpu_ms_per_req": cpu_s * 1000 / len(lat),
    }


def bare_api_command(port: int) -> list[str]:
    """bench/bare_app.py under the uvicorn options of the platform's API (api_command)."""
    return [
        sys.executable, "-m", "uvicorn", "bench.bare_app:app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        "--loop", "uvloop", "--http", "httptools",
    ]  # fmt: skip


# --- the benchmark ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, redis_url: str, redis_pid: int, tmp: Path):
        # Imported only now: backend.core.settings reads the environment at import.
        from backend.adapters.redis_clients import get_redis
        from backend.core.keys import keys
        from backend.platform.enqueue import CeleryTaskService
        from backend.platform.status import TaskStatusManager
        from backend.platform.submissions import TaskRequest
        from bench import raw_app
        from bench.procs import Children

        self.args = args
        self.redis_url = redis_url
        self.redis_pid = redis_pid
        self.tmp = tmp
        self.children = Children(dict(os.environ), ROOT, tmp)
        self.r = get_redis()
        self.keys = keys
        self.service = CeleryTaskService(self.r)
        self.status = TaskStatusManager(self.r)
        self.TaskRequest = TaskRequest
        self.raw = raw_app
        self._worker_seq = 0
        self.failures: list[str] = []

    # --- Redis housekeeping -----------------------------------------------------------------
    def flush(self) -> None:
        """Empty the bench Redis (ours only: the private server), then re-bind raw's queue.

        FLUSHDB also drops kombu's binding of the raw queue, which the producer in this
        process believes it already declared; without it raw `.delay()` would misroute.
        """
        self.r.flushdb()
        with self.raw.app.connection_for_write() as conn:
            queue = self.raw.app.amqp.queues[self.raw.DEFAULT_QUEUE]
            queue(conn.default_channel).declare()

    def _ours_count(self, state: str) -> int:
        # Fields are `STATE|queue` (one counter per state and queue, as /metrics exports them).
        counts = self.r.hgetall(self.keys.stats_counts(PING))
        return sum(int(v) for k, v in counts.items() if k.partition("|")[0] == state)

    def ours_done(self) -> int:
        return self._ours_count("SUCCESS")

    def ours_failed(self) -> int:
        return self._ours_count("FAILURE")

    def raw_done(self) -> int:
        return int(self.r.get(self.raw.DONE_KEY) or 0)

    def ours_queued(self) -> int:
        return sum(int(self.r.llen(k)) for k in self.keys.broker_queues("maintenance"))

    def raw_queued(self) -> int:
        return int(self.r.llen(f"{self.raw.PREFIX}{self.raw.DEFAULT_QUEUE}"))

    # --- enqueue paths ----------------------------------------------------------------------
    def ours_requests(self, n: int) -> list[Any]:
        return [self.TaskRequest(PING) for _ in range(n)]

    def ours_enqueue(self, requests: list[Any]) -> None:
        for start in range(0, len(requests), CHUNK):
            self.service.enqueue_many(requests[start : start + CHUNK])

    def raw_enqueue(self, n: int) -> None:
        delay = self.raw.noop.delay
        for i in range(n):
            delay(i)

    # --- workers ----------------------------------------------------------------------------
    def start_workers(self, side: str, cfg: WorkerConfig) -> tuple[list[Any], list[str]]:
        from backend.devtools.commands import worker_command

        workers, hostnames = [], []
        for i in range(cfg.processes):
            self._worker_seq += 1
            hostname = f"bench{side}{self._worker_seq}-{i}@bench"
            if side == "ours":
                command = worker_command(
                    queues=["maintenance"],
                    concurrency=cfg.concurrency,
                    pool=cfg.pool,
                    hostname=hostname,
                    loglevel="WARNING",
                )
            else:
                command = [
                    sys.executable, "-m", "celery", "-A", "bench.raw_app", "worker",
                    "-P", cfg.pool, "-c", str(cfg.concurrency), "-n", hostname,
                    "--without-gossip", "--without-mingle", "-Q", self.raw.DEFAULT_QUEUE,
                    "-l", "WARNING",
                ]  # fmt: skip
            workers.append(self.children.start(f"{side}-{cfg.key}-{i}", command))
            hostnames.append(hostname)
        return workers, hostnames

    def wait_workers_ready(self, side: str, workers: list[Any], hostnames: list[str]) -> None:
        def ready() -> bool:
            dead = [w for w in workers if not w.alive]
            if dead:
                raise MeasurementError(
                    f"worker {dead[0].name} exited during start:\n{dead[0].log_tail()}"
                )
            if side == "ours":
                live = {w["hostname"] for w in self.status.live_workers()}
                return all(h in live for h in hostnames)
            return all(self.r.exists(self.raw.ready_key(h)) for h in hostnames)

        wait_until(ready, READY_TIMEOUT_S, f"{side} workers {hostnames} to be ready")

    def stop_workers(self, workers: list[Any]) -> None:
        for w in workers:
            took = self.children.stop(w)
            if took > 9.5:
                say(f"    note: {w.name} needed SIGKILL after {took:.1f}s")

    def cpu_snapshot(self, workers: list[Any]) -> dict[str, Any]:
        from bench.procs import cpu_seconds

        return {
            "workers": [w.cpu_by_pid() for w in workers],
            "leaders": [w.pid for w in workers],
            "redis": cpu_seconds(self.redis_pid),
            "bench": time.process_time(),
            "commands": self.redis_commands(),
        }

    def redis_commands(self) -> dict[str, int]:
        """Calls per Redis command so far (INFO commandstats; a script's inner calls count too)."""
        stats = self.r.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}

    @staticmethod
    def commands_per_task(
        before: dict[str, Any], after: dict[str, Any], n: int
    ) -> dict[str, float]:
        """Redis calls per task between two snapshots, by command, largest first (the bench's
        own polling, 20 reads a second, included)."""
        b, a = before["commands"], after["commands"]
        calls = {name: a[name] - b.get(name, 0) for name in a}
        return {
            name: round(count / max(n, 1), 2)
            for name, count in sorted(calls.items(), key=lambda kv: -kv[1])
            if count
        }

    @staticmethod
    def cpu_per_task(before: dict[str, Any], after: dict[str, Any], n: int) -> dict[str, float]:
        leader_s = children_s = 0.0
        for b, a, leader in zip(before["workers"], after["workers"], after["leaders"], strict=True):
            for pid, secs in a.items():
                delta = secs - b.get(pid, 0.0)
                if pid == leader:
                    leader_s += delta
                else:
                    children_s += delta
        per = 1000.0 / max(n, 1)
        return {
            "worker_main_ms": round(leader_s * per, 3),
            "pool_children_ms": round(children_s * per, 3),
            "worker_total_ms": round((leader_s + children_s) * per, 3),
            "redis_ms": round((after["redis"] - before["redis"]) * per, 3),
            "bench_client_ms": round((after["bench"] - before["bench"]) * per, 3),
            "redis_calls": round(sum(Bench.commands_per_task(before, after, n).values()), 2),
        }

    def wait_count(
        self,
        side: str,
        target: int,
        workers: list[Any],
        *,
        on_first: Callable[[float, int], None] | None = None,
    ) -> float:
        """Poll the completion counter every 50 ms until it reaches `target`; returns that time."""
        counter = self.ours_done if side == "ours" else self.raw_done
        n = self.args.tasks
        deadline = time.monotonic() + READY_TIMEOUT_S + n / 40
        last_value, last_change = counter(), time.monotonic()
        first_seen = False
        stall = STALL_TIMEOUT_S + READY_TIMEOUT_S  # the first completion may wait for a start
        while True:
            value = counter()
            now = time.perf_counter()
            if value >= target:
                if on_first is not None and not first_seen:
                    on_first(now, value)
                return now
            mono = time.monotonic()
            if value != last_value:
                if on_first is not None and not first_seen and value > target - n:
                    first_seen = True
                    on_first(now, value)
                last_value, last_change = value, mono
                stall = STALL_TIMEOUT_S
            if not any(w.alive for w in workers):
                raise MeasurementError(
                    f"all {side} workers exited at {value}/{target}:\n{workers[0].log_tail()}"
                )
            if mono - last_change > stall or mono > deadline:
                extra = f", {self.ours_failed()} FAILURE" if side == "ours" else ""
                raise MeasurementError(
                    f"timeout: {side} count stuck at {value - (target - n)}/{n}{extra} "
                    f"(queued {self.ours_queued() if side == 'ours' else self.raw_queued()})"
                )
            time.sleep(POLL_S)

    # --- (a) HTTP ---------------------------------------------------------------------------
    def _start_server(self, name: str, command: list[str], port: int) -> Any:
        server = self.children.start(name, command)

        def healthy() -> bool:
            if not server.alive:
                raise MeasurementError(f"{name} exited during start:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_until(healthy, READY_TIMEOUT_S, f"GET /health of {name}")
        return server

    def http_section(self) -> dict[str, Any]:
        """POST /api/tasks of ours against bench/bare_app.py (a bare FastAPI endpoint with one
        Redis round trip) under the same uvicorn options, both servers up for the whole
        section and measured in turns (order alternating by rep): saturated, then paced."""
        from backend.core.security.tokens import issue_token
        from backend.devtools.commands import api_command
        from backend.devtools.redis_server import free_port
        from bench.httpload import build_request, run_load

        a = self.args
        out: dict[str, Any] = {"clients": a.http_clients, "rate": a.http_rate}
        servers: dict[str, Any] = {}
        try:
            ports = {"ours": free_port(), "bare": free_port()}
            servers["ours"] = self._start_server("api", api_command(ports["ours"]), ports["ours"])
            servers["bare"] = self._start_server(
                "bare-api", bare_api_command(ports["bare"]), ports["bare"]
            )
            token = issue_token("bench", "operator")
            body = json.dumps({"name": PING, "priority": "NORMAL"}).encode()
            requests = {
                side: build_request("127.0.0.1", port, "/api/tasks", body, token)
                for side, port in ports.items()
            }

            def load(side: str, total: int, rate: float | None) -> Any:
                res = run_load(
                    "127.0.0.1",
                    ports[side],
                    requests[side],
                    clients=a.http_clients,
                    total=total,
                    rate=rate,
                    timeout_s=HTTP_TIMEOUT_S,
                )
                bad = {s: c for s, c in res.statuses.items() if s != 202}
                if res.errors or bad or res.count != total:
                    raise MeasurementError(
                        f"HTTP load {side}: {res.count}/{total} done, statuses {res.statuses}, "
                        f"errors {res.errors[:3]}"
                    )
                return res

            for side in servers:  # warm-up: connections, caches, the limiter's script
                load(side, min(1000, a.http_requests), None)
            paced_total = int(a.http_rate * a.http_paced_s)
            totals = {"saturated": a.http_requests, "paced": paced_total}
            runs: dict[str, dict[str, list[dict[str, Any] | None]]] = {
                side: {"saturated": [], "paced": []} for side in servers
            }
            for rep in range(a.reps):
                order = ("ours", "bare") if rep % 2 == 0 else ("bare", "ours")
                for mode in ("saturated", "paced"):
                    for side in order:
                        try:
                            server = servers[side]
                            cpu0 = sum(server.cpu_by_pid().values())
                            res = load(
                                side, totals[mode], None if mode == "saturated" else a.http_rate
                            )
                            cpu = sum(server.cpu_by_pid().values()) - cpu0
                            row = http_row(res.latencies_s, res.elapsed_s, cpu)
                            say(
                                f"  (a) rep {rep + 1} {side:4} {mode:9}: "
                                f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
                                f"max {row['max_ms']:.1f} ms, {row['req_s']:,.0f} req/s, "
                                f"server CPU {row['cpu_ms_per_req']:.2f} ms/req"
                            )
                            runs[side][mode].append(row)
                        except MeasurementError as exc:
                            self.fail(f"(a) {side} {mode} rep {rep + 1}", exc)
                            runs[side][mode].append(None)
            for side, by_mode in runs.items():
                out[side] = {}
                for mode, rows in by_mode.items():
                    out[side][mode] = {
                        field: summary([r[field] if r else None for r in rows])
                        for field in HTTP_FIELDS
                    }
                    out[side][mode]["requests"] = totals[mode]
                    out[side][mode]["runs"] = rows
            ours_sat, bare_sat = runs["ours"]["saturated"], runs["bare"]["saturated"]
            out["ratio"] = summary(
                [
                    o["req_s"] / b["req_s"] if o and b else None
                    for o, b in zip(ours_sat, bare_sat, strict=True)
                ]
            )
        except MeasurementError as exc:
            self.fail("(a) HTTP", exc)
            out["error"] = str(exc)
        finally:
            for server in servers.values():
                self.children.stop(server)
            self.flush()
        return out

    # --- (b) enqueue rate -------------------------------------------------------------------
    def enqueue_section(self) -> dict[str, Any]:
        a = self.args
        self.flush()
        self.ours_enqueue(self.ours_requests(200))  # warm-up: script load, connections
        self.raw_enqueue(200)
        ours_rates: list[float | None] = []
        raw_rates: list[float | None] = []
        for rep in range(a.reps):
            order = ("ours", "raw") if rep % 2 == 0 else ("raw", "ours")
            for side in order:
                self.flush()
                try:
                    if side == "ours":
                        requests = self.ours_requests(a.tasks)
                        t0 = time.perf_counter()
                        self.service.enqueue_many(requests)
                        dt = time.perf_counter() - t0
                        n, queued = a.tasks, self.ours_queued()
                    else:
                        t0 = time.perf_counter()
                        self.raw_enqueue(a.raw_enqueue)
                        dt = time.perf_counter() - t0
                        n, queued = a.raw_enqueue, self.raw_queued()
                    if queued != n:
                        raise MeasurementError(f"{side}: {queued} messages queued, expected {n}")
                    rate = n / dt
                    say(f"  (b) rep {rep + 1} {side:4}: {n:,} tasks in {dt:.2f}s = {rate:,.0f}/s")
                    (ours_rates if side == "ours" else raw_rates).append(rate)
                except MeasurementError as exc:
                    self.fail(f"(b) {side} rep {rep + 1}", exc)
                    (ours_rates if side == "ours" else raw_rates).append(None)
        self.flush()
        ratios = [o / r if o and r else None for o, r in zip(ours_rates, raw_rates, strict=True)]
        return {
            "ours_tasks": a.tasks,
            "raw_tasks": a.raw_enqueue,
            "ours_tasks_s": summary(ours_rates),
            "raw_tasks_s": summary(raw_rates),
            "ratio": summary(ratios),
        }

    # --- (c) end to end and drain -----------------------------------------------------------
    def end_to_end(self, side: str, cfg: WorkerConfig) -> dict[str, Any]:
        n = self.args.tasks
        self.flush()
        requests = self.ours_requests(n) if side == "ours" else []
        workers, hostnames = self.start_workers(side, cfg)
        try:
            self.wait_workers_ready(side, workers, hostnames)
            base = self.ours_done() if side == "ours" else self.raw_done()
            before = self.cpu_snapshot(workers)
            t0 = time.perf_counter()
            if side == "ours":
                self.ours_enqueue(requests)
            else:
                self.raw_enqueue(n)
            t_enqueued = time.perf_counter()
            t_end = self.wait_count(side, base + n, workers)
            after = self.cpu_snapshot(workers)
        finally:
            self.stop_workers(workers)
        return {
            "tasks_s": n / (t_end - t0),
            "seconds": t_end - t0,
            "enqueue_s": t_enqueued - t0,
            "cpu_per_task": self.cpu_per_task(before, after, n),
            "redis_commands_per_task": self.commands_per_task(before, after, n),
        }

    def drain(self, side: str, cfg: WorkerConfig) -> dict[str, Any]:
        n = self.args.tasks
        self.flush()
        if side == "ours":
            self.ours_enqueue(self.ours_requests(n))
            queued = self.ours_queued()
        else:
            self.raw_enqueue(n)
            queued = self.raw_queued()
        if queued != n:
            raise MeasurementError(f"{side}: {queued} messages pre-filled, expected {n}")
        base = self.ours_done() if side == "ours" else self.raw_done()
        workers, _ = self.start_workers(side, cfg)
        first: dict[str, Any] = {}

        def on_first(at: float, value: int) -> None:
            first.update(at=at, value=value, cpu=self.cpu_snapshot(workers))

        try:
            t_last = self.wait_count(side, base + n, workers, on_first=on_first)
            after = self.cpu_snapshot(workers)
        finally:
            self.stop_workers(workers)
        remaining = base + n - first["value"]
        if remaining < n / 2 or t_last <= first["at"]:
            raise MeasurementError(f"drain too short to time: {remaining} tasks after the first")
        return {
            "tasks_s": remaining / (t_last - first["at"]),
            "seconds": t_last - first["at"],
            "timed_tasks": remaining,
            "cpu_per_task": self.cpu_per_task(first["cpu"], after, remaining),
            "redis_commands_per_task": self.commands_per_task(first["cpu"], after, remaining),
        }

    def throughput_section(self) -> dict[str, Any]:
        a = self.args
        out: dict[str, Any] = {"tasks": a.tasks}
        for key in a.configs:
            cfg = CONFIGS[key]
            cfg_out: dict[str, Any] = {"label": cfg.label}
            for mode in a.modes:
                runs: dict[str, list[dict[str, Any] | None]] = {"ours": [], "raw": []}
                for rep in range(a.reps):
                    order = ("ours", "raw") if rep % 2 == 0 else ("raw", "ours")
                    for side in order:
                        measure = self.end_to_end if mode == "e2e" else self.drain
                        try:
                            row = measure(side, cfg)
                            cpu = row["cpu_per_task"]
                            say(
                                f"  (c) {cfg.label:13} {mode:5} rep {rep + 1} {side:4}: "
                                f"{row['tasks_s']:,.0f} tasks/s ({row['seconds']:.1f}s); "
                                f"CPU/task worker main {cpu['worker_main_ms']:.2f} ms, "
                                f"pool children {cpu['pool_children_ms']:.2f} ms, "
                                f"redis {cpu['redis_ms']:.2f} ms "
                                f"({cpu['redis_calls']:.1f} calls), "
                                f"bench {cpu['bench_client_ms']:.2f} ms"
                            )
                            runs[side].append(row)
                        except MeasurementError as exc:
                            self.fail(f"(c) {cfg.label} {mode} {side} rep {rep + 1}", exc)
                            runs[side].append(None)
                ours = [r["tasks_s"] if r else None for r in runs["ours"]]
                raw = [r["tasks_s"] if r else None for r in runs["raw"]]
                cfg_out[mode] = {
                    "ours_tasks_s": summary(ours),
                    "raw_tasks_s": summary(raw),
                    "ratio": summary(
                        [o / r if o and r else None for o, r in zip(ours, raw, strict=True)]
                    ),
                    "cpu_per_task": {
                        side: {
                            field: summary([r["cpu_per_task"][field] if r else None for r in rows])
                            for field in (
                                "worker_main_ms",
                                "pool_children_ms",
                                "worker_total_ms",
                                "redis_ms",
                                "redis_calls",
                                "bench_client_ms",
                            )
                        }
                        for side, rows in runs.items()
                    },
                    "runs": runs,
                }
                if mode == "e2e":
                    cfg_out[mode]["enqueue_s"] = {
                        side: summary([r["enqueue_s"] if r else None for r in rows])
                        for side, rows in runs.items()
                    }
            out[key] = cfg_out
        self.flush()
        return out

    def fail(self, what: str, exc: BaseException) -> None:
        message = f"{what}: {exc}"
        self.failures.append(message)
        say(f"  FAILED {message}")


# --- report -----------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    lines: list[str] = []
    m = results["machine"]
    lines.append("=" * 100)
    lines.append(
        f"machine: nproc {m['nproc']}, {m['platform']}, Python {m['python']}, "
        f"celery {m['celery']}, kombu {m['kombu']}, redis-py {m['redis_py']} "
        f"(hiredis {m['hiredis']}), redis-server {m['redis_server']}"
    )
    lines.append(f"command: {results['command']}")
    c0, c1 = results["code_at_start"], results.get("code_at_end", {})
    lines.append(
        f"code: commit {c0['commit']}, {c0['backend_dirty_files']} uncommitted backend files, "
        f"backend digest {c0['backend_sha256']}"
        + (
            f" -> at end {c1.get('commit')}, {c1.get('backend_sha256')}"
            if c1 and c1 != c0
            else " (unchanged during the run)"
        )
    )
    p = results["params"]
    lines.append(
        f"params: tasks {p['tasks']:,}, reps {p['reps']}, figures are median (min{DASH}max) "
        f"over reps, ours/raw interleaved"
    )
    http = results.get("http")
    if http:
        lines.append("")
        lines.append(
            f"(a) HTTP POST /api/tasks ({PING}), {http['clients']} keep-alive clients, no worker "
            "running; ours against bench/bare_app.py (bare FastAPI, one Redis round trip)"
        )
        lines.append(
            f"    targets: saturated ours/bare >= {HTTP_RATIO_TARGET}, p99 <= "
            f"{HTTP_TAIL_TARGET:.0f} x p50; paced p99 <= {HTTP_PACED_P99_MS:.0f} ms in every rep"
        )
        if "error" in http:
            lines.append(f"    FAILED: {http['error']}")
        for mode in ("saturated", "paced"):
            for side in ("ours", "bare"):
                row = http.get(side, {}).get(mode)
                if not row:
                    continue
                name = (
                    f"{side} saturated, {row['requests']:,} req"
                    if mode == "saturated"
                    else f"{side} paced {http['rate']:,.0f}/s, {row['requests']:,} req"
                )
                lines.append(
                    f"    {name:33} p50 {fmt_summary(row['p50_ms'], 2)} ms | "
                    f"p99 {fmt_summary(row['p99_ms'], 2)} ms | {fmt_summary(row['req_s'])} req/s"
                    f" | CPU {fmt_summary(row['cpu_ms_per_req'], 2)} ms/req"
                )
        if "ratio" in http:
            lines.append(f"    saturated ours/bare (per rep)     {fmt_summary(http['ratio'], 2)} x")
        paced = http.get("ours", {}).get("paced", {}).get("p99_ms", {}).get("values")
        if paced:
            lines.append(
                "    ours paced p99 per rep           "
                + ", ".join(fmt_num(v, 2) for v in paced)
                + " ms"
            )
    enq = results.get("enqueue")
    if enq:
        lines.append("")
        lines.append("(b) enqueue rate from one client process; target ours >= 10x raw")
        lines.append(
            f"    ours enqueue_many, {enq['ours_tasks']:,} tasks   "
            f"{fmt_summary(enq['ours_tasks_s'])} tasks/s"
        )
        lines.append(
            f"    raw .delay() loop, {enq['raw_tasks']:,} tasks    "
            f"{fmt_summary(enq['raw_tasks_s'])} tasks/s"
        )
        lines.append(f"    ratio ours/raw (per rep)        {fmt_summary(enq['ratio'], 1)} x")
    tp = results.get("throughput")
    if tp:
        lines.append("")
        lines.append(
            f"(c) no-op throughput, {tp['tasks']:,} tasks, same pool and concurrency; "
            "target ours >= 0.8x raw"
        )
        lines.append(
            "    e2e: enqueue while workers consume, first enqueue to last completion; "
            "drain: pre-filled, first to last completion"
        )
        lines.append(
            f"    {'workers':14}{'mode':7}{'ours tasks/s':24}{'raw tasks/s':24}"
            f"{'ours/raw':20}{'worker CPU ms/task ours | raw (main+children)'}"
        )
        for key, cfg_out in tp.items():
            if key == "tasks":
                continue
            for mode in ("e2e", "drain"):
                row = cfg_out.get(mode)
                if not row:
                    continue
                cpu = row["cpu_per_task"]

                def cpu_text(side: str, cpu: dict[str, Any] = cpu) -> str:
                    main = cpu[side]["worker_main_ms"]["median"]
                    kids = cpu[side]["pool_children_ms"]["median"]
                    if main is None:
                        return "-"
                    return f"{main:.2f}+{kids:.2f}"

                lines.append(
                    f"    {cfg_out['label']:14}{mode:7}{fmt_summary(row['ours_tasks_s']):24}"
                    f"{fmt_summary(row['raw_tasks_s']):24}{fmt_summary(row['ratio'], 2):20}"
                    f"{cpu_text('ours')} | {cpu_text('raw')}"
                )
        redis_rows = []
        for key, cfg_out in tp.items():
            if key == "tasks":
                continue
            row = cfg_out.get("e2e")
            if row:
                o = row["cpu_per_task"]["ours"]["redis_ms"]["median"]
                r = row["cpu_per_task"]["raw"]["redis_ms"]["median"]
                oc = row["cpu_per_task"]["ours"]["redis_calls"]["median"]
                rc = row["cpu_per_task"]["raw"]["redis_calls"]["median"]
                eo = row["enqueue_s"]["ours"]["median"]
                er = row["enqueue_s"]["raw"]["median"]
                redis_rows.append(
                    f"    {cfg_out['label']:14}e2e    redis-server CPU ms/task ours "
                    f"{fmt_num(o, 3)} | raw {fmt_num(r, 3)}, calls/task ours {fmt_num(oc, 1)} | "
                    f"raw {fmt_num(rc, 1)}; enqueue phase ours "
                    f"{fmt_num(eo, 2)} s | raw {fmt_num(er, 2)} s"
                )
        lines.extend(redis_rows)
    for warning in results.get("warnings", []):
        lines.append(f"WARNING: {warning}")
    if results.get("failures"):
        lines.append("")
        lines.append(f"FAILURES ({len(results['failures'])}):")
        lines.extend(f"    - {f.splitlines()[0]}" for f in results["failures"])
    lines.append(
        f"total wall time {results['wall_s']:.0f} s"
        + ("  (INTERRUPTED: partial results)" if results.get("interrupted") else "")
    )
    lines.append("=" * 100)
    return "\n".join(lines)


def render_markdown(results: dict[str, Any]) -> str:
    """The README's performance table from a results JSON: each figure with its baseline, the
    ratio and the target (`bench/run.py --markdown [results.json]`)."""
    m, code = results.get("machine", {}), results.get("code_at_start", {})
    lines = [
        f"Measured {results.get('started_at', '?')[:10]} at {code.get('commit', '?')}: nproc "
        f"{m.get('nproc')}, Python {m.get('python')}, celery {m.get('celery')}, redis-server "
        f"{m.get('redis_server')}; median (min{DASH}max) over {results['params']['reps']} "
        "interleaved reps.",
        f"`{results.get('command', '')}`",
        "",
        "| measurement | ours | baseline | ours/baseline | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    http = results.get("http") or {}
    ours, bare = http.get("ours", {}), http.get("bare", {})
    if ours.get("saturated"):
        o, b = ours["saturated"], bare.get("saturated", {})
        lines.append(
            f"| (a) POST /api/tasks, {http['clients']} clients saturated, req/s "
            f"| {fmt_summary(o['req_s'])} | bare FastAPI + 1 Redis call: "
            f"{fmt_summary(b.get('req_s'))} | {fmt_summary(http.get('ratio'), 2)} "
            f"| >= {HTTP_RATIO_TARGET} |"
        )
        lines.append(
            f"| (a) same, p50 / p99 ms (p99/p50) | {fmt_summary(o['p50_ms'], 1)} / "
            f"{fmt_summary(o['p99_ms'], 1)} ({fmt_summary(o['p99_over_p50'], 1)}) "
            f"| {fmt_summary(b.get('p50_ms'), 1)} / {fmt_summary(b.get('p99_ms'), 1)} | "
            f"| p99 <= {HTTP_TAIL_TARGET:.0f} x p50 |"
        )
        lines.append(
            f"| (a) same, server CPU ms/request | {fmt_summary(o['cpu_ms_per_req'], 2)} "
            f"| {fmt_summary(b.get('cpu_ms_per_req'), 2)} | | |"
        )
    if ours.get("paced"):
        o, b = ours["paced"], bare.get("paced", {})
        per_rep = ", ".join(fmt_num(v, 1) for v in o["p99_ms"]["values"])
        lines.append(
            f"| (a) paced {http['rate']:,.0f} req/s, p99 ms per rep | {per_rep} "
            f"| {fmt_summary(b.get('p99_ms'), 1)} | | <= {HTTP_PACED_P99_MS:.0f} every rep |"
        )
    enq = results.get("enqueue")
    if enq:
        lines.append(
            f"| (b) enqueue_many, tasks/s | {fmt_summary(enq['ours_tasks_s'])} "
            f"| `.delay()` loop: {fmt_summary(enq['raw_tasks_s'])} "
            f"| {fmt_summary(enq['ratio'], 1)} | >= 10 |"
        )
    for key, cfg_out in (results.get("throughput") or {}).items():
        if key == "tasks":
            continue
        for mode in ("e2e", "drain"):
            row = cfg_out.get(mode)
            if row:
                lines.append(
                    f"| (c) {cfg_out['label']}, {mode}, tasks/s "
                    f"| {fmt_summary(row['ours_tasks_s'])} "
                    f"| raw Celery: {fmt_summary(row['raw_tasks_s'])} "
                    f"| {fmt_summary(row['ratio'], 2)} | >= 1.0 |"
                )
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, help="tasks per (b) ours / (c) run (20,000)")
    parser.add_argument("--reps", type=int, help="repetitions of each measurement (3)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2,000 tasks, 1 rep")
    parser.add_argument("--raw-enqueue", type=int, help="raw .delay() tasks in (b) (5,000)")
    parser.add_argument("--http-requests", type=int, help="saturated requests in (a) (5,000)")
    parser.add_argument("--http-rate", type=float, default=500.0, help="paced req/s in (a)")
    parser.add_argument("--http-paced-s", type=float, help="paced duration in s (10)")
    parser.add_argument("--http-clients", type=int, default=20)
    parser.add_argument(
        "--sections",
        default="http,enqueue,throughput",
        help="subset of http,enqueue,throughput,documents,memory (the last two: bench/documents.py"
        " and bench/memory.py, each on its own Redis)",
    )
    parser.add_argument("--configs", default="prefork,threads,solo", help="worker configs for (c)")
    parser.add_argument("--modes", default="e2e,drain", help="(c) modes: e2e,drain")
    parser.add_argument(
        "--markdown",
        nargs="?",
        const=str(RESULTS_PATH),
        metavar="JSON",
        help="print the README's Markdown table from a results file (default latest.json); "
        "runs nothing",
    )
    parser.add_argument(
        "--raw-same-guarantees",
        action="store_true",
        help="raw Celery with our delivery settings (acks_late, no prefetch) instead of defaults",
    )
    args = parser.parse_args(argv)
    if args.raw_same_guarantees:
        os.environ["RAW_SAME_GUARANTEES"] = "1"
    quick = args.quick
    defaults = {
        "tasks": 2000 if quick else 20000,
        "reps": 1 if quick else 3,
        "raw_enqueue": 1000 if quick else 5000,
        "http_requests": 1000 if quick else 5000,
        "http_paced_s": 2.0 if quick else 10.0,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.sections = [s for s in args.sections.split(",") if s]
    args.configs = [c for c in args.configs.split(",") if c]
    args.modes = [m for m in args.modes.split(",") if m]
    unknown = (
        set(args.sections) - {"http", "enqueue", "throughput", *EXTRA_SECTIONS}
        | set(args.configs) - set(CONFIGS)
        | set(args.modes) - {"e2e", "drain"}
    )
    if unknown:
        parser.error(f"unknown section/config/mode: {sorted(unknown)}")
    if args.tasks < 100 or args.reps < 1:
        parser.error("--tasks must be >= 100 and --reps >= 1")
    return args


def set_environment(redis_url: str, tmp: Path) -> None:
    """The settings every process of the run reads; set before any backend import."""
    os.environ.update(
        {
            "REDIS_URL": redis_url,
            "KEY_PREFIX": KEY_PREFIX,
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "ENVIRONMENT": "test",
            "JWT_SECRET": secrets.token_hex(32),
            "LOG_LEVEL": "WARNING",
            # (a) measures enqueue latency with the per-user limiter in the path (its Redis
            # round trip included), set high enough that one client is never refused.
            "API_RATE_LIMITS": '{"POST /api/tasks": "100000000/minute"}',
            # The per-user abuse quotas (issue 10) out of the way of a load test.
            "CASES_PER_DAY": "100000000",
            "EMAIL_RECIPIENTS_PER_HOUR": "100000000",
            "UPLOADS_PER_DAY": "100000000",
            "REPORTS_PER_DAY": "100000000",
            "SSE_MAX_STREAMS_PER_USER": "100000",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    for name in ("BROKER_URL", "EXTRA_TASK_MODULES", "TASK_POLICY_OVERRIDES"):
        os.environ.pop(name, None)


def code_state() -> dict[str, Any]:
    """The commit and a digest of backend/ as on disk: others may edit it while a run goes on."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "backend").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".lua"):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    try:
        head = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, timeout=10
            )
            .stdout.decode()
            .strip()
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "backend"],
            cwd=ROOT,
            capture_output=True,
            timeout=10,
        ).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        head, dirty = "unknown", ""
    return {
        "commit": head or "unknown",
        "backend_dirty_files": len(dirty.splitlines()),
        "backend_sha256": digest.hexdigest()[:16],
    }


def machine(redis_version: str) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "celery": version("celery"),
        "kombu": version("kombu"),
        "redis_py": version("redis"),
        "hiredis": version("hiredis"),
        "redis_server": redis_version,
    }


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def guarded_run(results: dict[str, Any], cleanup: Callable[[], None]) -> Iterator[None]:
    """Run a benchmark body: Ctrl-C (or SIGTERM) marks `results` interrupted, any other error
    is recorded in its failures. `cleanup` (stop every child process) then runs with those
    signals ignored, so a second Ctrl-C cannot leave children behind."""
    try:
        yield
    except KeyboardInterrupt:
        results["interrupted"] = True
        say("interrupted: stopping every child process")
    except Exception as exc:
        results.setdefault("failures", []).append(f"run aborted: {exc!r}")
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup()
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown:
        print(render_markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="ltqbench-"))
    results: dict[str, Any] = {
        "command": exact_command(),
        "params": {
            k: getattr(args, k)
            for k in (
                "tasks",
                "reps",
                "raw_enqueue",
                "http_requests",
                "http_rate",
                "http_paced_s",
                "http_clients",
                "sections",
                "configs",
                "modes",
            )
        },
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "code_at_start": code_state(),
    }
    # redis_server imports nothing from backend.core.settings, so it is safe before the env is set.
    from backend.devtools.redis_server import RedisServer

    server = RedisServer()
    bench: Bench | None = None

    def cleanup() -> None:
        if bench is not None:
            bench.children.stop_all()
            results["failures"] = results.get("failures", []) + bench.failures
        server.stop()

    with guarded_run(results, cleanup):
        set_environment(server.url, tmp)
        import redis

        info = redis.Redis.from_url(server.url).info("server")
        results["machine"] = machine(str(info.get("redis_version")))
        say(f"bench Redis {server.url} (pid {info.get('process_id')}), logs in {tmp}")
        from backend.devtools.commands import migrate_command

        migrated = subprocess.run(
            migrate_command(), cwd=ROOT, capture_output=True, timeout=MIGRATE_TIMEOUT_S
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrated.stderr.decode()[-2000:]}")
        bench = Bench(args, server.url, int(info["process_id"]), tmp)
        bench.flush()
        if "http" in args.sections:
            say("(a) HTTP enqueue latency")
            results["http"] = bench.http_section()
        if "enqueue" in args.sections:
            say("(b) enqueue rate")
            results["enqueue"] = bench.enqueue_section()
        if "throughput" in args.sections:
            say("(c) end-to-end and drain throughput")
            results["throughput"] = bench.throughput_section()
        for section in (s for s in args.sections if s in EXTRA_SECTIONS):
            say(f"{section}: bench/{section}.py")
            results[section] = EXTRA_SECTIONS[section]([])
    results["wall_s"] = time.monotonic() - started
    results["code_at_end"] = code_state()
    if results["code_at_end"] != results["code_at_start"]:
        results.setdefault("warnings", []).append(
            "backend/ changed during the run: workers started later ran other code"
        )
    results.setdefault("machine", machine("unknown"))
    results.setdefault("failures", [])
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(render(results))
    print(f"results: {RESULTS_PATH.relative_to(ROOT)}")
    if results["failures"]:
        print(f"child logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if results["failures"] or results.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
