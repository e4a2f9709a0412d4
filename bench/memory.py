"""Memory at scale: Redis bytes per record and API/worker RSS while 100,000 tasks drain.

    .venv/bin/python bench/memory.py [--tasks 100000] [--json OUT] [--png PATH]

On a private Redis, with an API process (under a light read/write load all along) and a
prefork worker (-c 2) on `maintenance`:
1. enqueue N `maintenance.ping` with no worker: Redis bytes per queued task;
2. start the worker, drain them: bytes per finished record (N finished records now);
3. stop the worker, enqueue N more (N queued and N finished at once): bytes again;
4. start the worker, drain those too.
RSS of the API, the worker's main process and its pool children, and Redis's used memory
are sampled every second throughout and plotted to `bench/results/memory.png`. "Flat" is
judged on each drain after its first 10 %: growth in MB per 10,000 tasks (least squares).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SAMPLE_S = 1.0
DRAIN_TIMEOUT_S = 3600.0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import sys

    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=RESULTS / "memory.json")
    parser.add_argument("--png", type=Path, default=RESULTS / "memory.png")
    opts = parser.parse_args(argv)
    from backend.devtools.redis_server import RedisServer
    from bench.procs import Children
    from bench.run import set_environment

    tmp = Path(tempfile.mkdtemp(prefix="ltq-membench-"))
    server = RedisServer()
    children: Children | None = None
    try:
        import os

        set_environment(server.url, tmp)
        children = Children(dict(os.environ), ROOT, tmp)
        result = _run(opts.tasks, children, tmp)
    finally:
        if children is not None:
            children.stop_all()
        server.stop()
    opts.json.parent.mkdir(parents=True, exist_ok=True)
    opts.json.write_text(json.dumps(result, indent=2) + "\n")
    _plot(result, opts.png)
    result["png"] = str(opts.png)
    _print(result)
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def _run(n: int, children: Any, tmp: Path) -> dict[str, Any]:
    import subprocess

    import redis

    from backend.adapters.redis_clients import get_redis
    from backend.core.keys import keys
    from backend.core.security.tokens import issue_token
    from backend.devtools.commands import api_command, migrate_command, worker_command
    from backend.devtools.redis_server import free_port
    from backend.platform.enqueue import CeleryTaskService
    from backend.platform.submissions import TaskRequest
    from tests.support.waiting import wait_for

    subprocess.run(migrate_command(), cwd=ROOT, check=True, capture_output=True, timeout=300)
    r = redis.Redis.from_url(_url())
    service = CeleryTaskService(get_redis())
    port = free_port()
    api = children.start("api", api_command(port))
    wait_for(lambda: _healthy(port), 60, "API health")
    token = issue_token("bench", "operator")
    samples: list[dict[str, Any]] = []
    state: dict[str, Any] = {"phase": "start", "worker": None, "stop": False}
    sampler = threading.Thread(target=_sample, args=(samples, state, api, r), daemon=True)
    sampler.start()
    loader = threading.Thread(target=_api_load, args=(port, token, state), daemon=True)
    loader.start()

    def used() -> int:
        return int(r.info("memory")["used_memory"])

    def enqueue(count: int) -> None:
        for start in range(0, count, 1000):
            service.enqueue_many([TaskRequest("maintenance.ping")] * min(1000, count - start))

    def drain(phase: str) -> dict[str, Any]:
        state["phase"] = phase
        worker = children.start(
            "worker", worker_command(queues=["maintenance"], concurrency=2, loglevel="WARNING")
        )
        state["worker"] = worker
        target = n * (1 if phase == "drain 1" else 2)
        wait_for(lambda: _done(r) > target - n, 120, f"{phase}: first task done")
        started, done_at_start = time.monotonic(), _done(r)

        def drained() -> bool:
            queued = sum(int(r.llen(k)) for k in keys.broker_queues("maintenance"))
            return queued == 0 and _done(r) >= target

        wait_for(drained, DRAIN_TIMEOUT_S, f"{phase} drained")
        took = time.monotonic() - started
        time.sleep(3 * SAMPLE_S)
        state["worker"] = None
        children.stop(worker)
        return {"seconds": took, "tasks_per_s": (_done(r) - done_at_start) / took}

    r.flushdb()
    time.sleep(2)
    base = used()
    state["phase"] = "enqueue 1"
    enqueue(n)
    queued_1 = used()
    drained_1 = drain("drain 1")
    time.sleep(2)
    finished = used()
    state["phase"] = "enqueue 2"
    enqueue(n)
    queued_2 = used()
    drained_2 = drain("drain 2")
    state["phase"] = "end"
    time.sleep(2)
    end = used()
    state["stop"] = True
    sampler.join(5)
    loader.join(5)
    return {
        "tasks": n,
        "redis_bytes": {
            "empty": base,
            "queued_n": queued_1,
            "finished_n": finished,
            "finished_n_queued_n": queued_2,
            "finished_2n": end,
            "per_queued_task": (queued_1 - base) / n,
            "per_finished_record": (finished - base) / n,
            "per_queued_task_beside_finished": (queued_2 - finished) / n,
            "sample_keys": _sample_keys(r),
        },
        "drains": {"drain 1": drained_1, "drain 2": drained_2},
        "rss_growth_mb_per_10k": _growth(samples, n),
        "api_requests": state.get("requests", 0),
        "samples": samples,
    }


def _url() -> str:
    import os

    return os.environ["REDIS_URL"]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _done(r: Any) -> int:
    from backend.core.keys import keys

    counts = r.hgetall(keys.stats_counts("maintenance.ping"))
    return sum(int(v) for k, v in counts.items() if k.decode().startswith("SUCCESS|"))


def _rss_mb(pid: int) -> float:
    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.Error:
        return 0.0


def _sample(samples: list[dict[str, Any]], state: dict[str, Any], api: Any, r: Any) -> None:
    started = time.monotonic()
    while not state["stop"]:
        worker = state["worker"]
        row: dict[str, Any] = {
            "t": round(time.monotonic() - started, 2),
            "phase": state["phase"],
            "api_mb": round(_rss_mb(api.pid), 2),
            "redis_mb": round(int(r.info("memory")["used_memory"]) / 2**20, 2),
            "done": _done(r),
        }
        if worker is not None and worker.alive:
            try:
                kids = psutil.Process(worker.pid).children()
            except psutil.Error:
                kids = []
            row["worker_main_mb"] = round(_rss_mb(worker.pid), 2)
            row["worker_children_mb"] = [round(_rss_mb(k.pid), 2) for k in kids]
        samples.append(row)
        time.sleep(SAMPLE_S)


def _api_load(port: int, token: str, state: dict[str, Any]) -> None:
    """About 20 requests a second: submit a ping, read it back, the stats and a list page."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    base = f"http://127.0.0.1:{port}/api/tasks"
    body = json.dumps({"name": "maintenance.ping", "priority": "NORMAL"}).encode()
    count = 0
    while not state["stop"]:
        try:
            req = urllib.request.Request(base, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=10) as resp:
                task_id = json.loads(resp.read())["task_id"]
            for path in (f"/{task_id}", "/stats", "?limit=50"):
                with urllib.request.urlopen(
                    urllib.request.Request(base + path, headers=headers), timeout=10
                ) as resp:
                    resp.read()
            count += 4
        except OSError:
            pass
        state["requests"] = count
        time.sleep(0.2)


def _growth(samples: list[dict[str, Any]], n: int) -> dict[str, dict[str, float]]:
    """Per drain and process: RSS slope against tasks done, in MB per 10,000 tasks, once the
    first 10 % are done (start-up and warm-up excluded); RSS then and at the end."""
    out: dict[str, dict[str, float]] = {}
    for phase in ("drain 1", "drain 2"):
        rows = [
            s
            for s in samples
            if s["phase"] == phase and s.get("worker_children_mb") and all(s["worker_children_mb"])
        ]
        if len(rows) < 5:
            continue
        first = rows[0]["done"]
        tail = [s for s in rows if s["done"] - first >= n // 10]
        if len(tail) < 3:
            continue
        xs = [float(s["done"]) for s in tail]
        series = {
            "api": [s["api_mb"] for s in tail],
            "worker_main": [s["worker_main_mb"] for s in tail],
            "worker_children": [sum(s["worker_children_mb"]) for s in tail],
        }
        for name, ys in series.items():
            flat = len(set(ys)) == 1 or len(set(xs)) == 1
            slope = 0.0 if flat else statistics.linear_regression(xs, ys).slope
            out[f"{phase} {name}"] = {
                "mb_per_10k_tasks": round(slope * 10_000, 3),
                "rss_mb_at_10pct": ys[0],
                "rss_mb_at_end": ys[-1],
            }
    return out


def _sample_keys(r: Any) -> dict[str, int]:
    """MEMORY USAGE of one key of each kind (by its prefix up to the id)."""
    seen: dict[str, int] = {}
    for key in r.scan_iter(count=1000):
        text = key.decode(errors="replace")
        kind = ":".join(part for part in text.split(":")[:3] if not _looks_like_id(part))
        if kind not in seen:
            seen[kind] = int(r.memory_usage(key) or 0)
        if len(seen) > 40:
            break
    return seen


def _looks_like_id(part: str) -> bool:
    return len(part) >= 20 and sum(c.isalnum() or c == "-" for c in part) == len(part)


def _plot(result: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    t = [s["t"] for s in samples]
    fig, (ax, ax_redis) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    ax.plot(t, [s["api_mb"] for s in samples], label="API")
    ax.plot(t, [s.get("worker_main_mb") for s in samples], label="worker main")
    ax.plot(
        t,
        [sum(s["worker_children_mb"]) if "worker_children_mb" in s else None for s in samples],
        label="worker pool children (sum)",
    )
    ax.set_ylabel("RSS (MB)")
    ax.legend(loc="upper left")
    ax_redis.plot(t, [s["redis_mb"] for s in samples], color="tab:red", label="Redis used_memory")
    ax_redis.set_ylabel("MB")
    ax_redis.set_xlabel("seconds")
    ax_redis.legend(loc="upper left")
    previous = None
    for s in samples:
        if s["phase"] != previous:
            for axis in (ax, ax_redis):
                axis.axvline(s["t"], color="grey", linewidth=0.5)
            ax.annotate(s["phase"], (s["t"], 0), xycoords=("data", "axes fraction"), fontsize=7)
            previous = s["phase"]
    fig.suptitle(f"{result['tasks']:,} tasks queued, drained, queued again beside the records")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _print(result: dict[str, Any]) -> None:
    b = result["redis_bytes"]
    print(f"Redis bytes per queued task: {b['per_queued_task']:.0f}")
    print(f"Redis bytes per finished record: {b['per_finished_record']:.0f}")
    print(
        f"Redis bytes per queued task beside N records: {b['per_queued_task_beside_finished']:.0f}"
    )
    for name, drain in result["drains"].items():
        print(f"{name}: {drain['tasks_per_s']:.0f} tasks/s")
    for name, growth in result["rss_growth_mb_per_10k"].items():
        print(
            f"{name}: {growth['mb_per_10k_tasks']:+.2f} MB per 10k tasks "
            f"({growth['rss_mb_at_10pct']:.1f} -> {growth['rss_mb_at_end']:.1f} MB)"
        )
    print(f"figure: {result['png']}")


if __name__ == "__main__":
    main()
