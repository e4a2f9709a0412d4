"""Runtime of `documents.analyse_document` on a three-page PDF, this tree against another:

    .venv/bin/python bench/documents.py [--runs 30] [--reps 3] [--baseline PATH] [--json OUT]

Each rep starts, for each tree in turn (interleaved), a private Redis, a temporary SQLite
database and one prefork worker (-c 2) on `documents` run from that tree, then analyses
`--runs` stored PDFs one after another (each waited for, 0.1 s apart, as documents arrive)
and takes the runtime the platform records (task records' runtime_ms), plus the time of
`parse_isolated` alone, called in the bench process. `--baseline` is a checkout of an older
commit (e.g. `git worktree add /tmp/base <commit>`), run with this tree's virtualenv.
Prints p50/p95 per tree as median (min-max) over reps; `--json` writes them too.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GAP_S = 0.1


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # one tree, one rep
    opts = parser.parse_args(argv)
    if opts.measure:
        print(json.dumps(_measure(opts.measure, opts.runs)))
        return {}
    trees = {"ours": ROOT} | ({"baseline": opts.baseline.resolve()} if opts.baseline else {})
    reps: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for rep in range(opts.reps):
        for name, tree in trees.items():
            done = subprocess.run(
                [sys.executable, __file__, "--measure", str(tree), "--runs", str(opts.runs)],
                capture_output=True, timeout=1800, cwd=tree,
                env={**os.environ, "PYTHONPATH": str(tree)},
            )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"{name} rep {rep} failed:\n{done.stderr.decode()[-3000:]}")
            figures = json.loads(done.stdout.decode().strip().splitlines()[-1])
            reps[name].append(figures)
            print(f"rep {rep + 1} {name}: {figures}", flush=True)
    result = {
        "runs": opts.runs,
        "reps": opts.reps,
        "trees": {name: str(tree) for name, tree in trees.items()},
        "figures": {name: _over_reps(rows) for name, rows in reps.items()},
        "per_rep": reps,
    }
    for name, figures in result["figures"].items():
        print(f"{name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in figures.items()))
    if opts.json:
        opts.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _over_reps(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        key: {
            "median": statistics.median(row[key] for row in rows),
            "min": min(row[key] for row in rows),
            "max": max(row[key] for row in rows),
        }
        for key in rows[0]
    }


def _fmt(value: dict[str, float]) -> str:
    return f"{value['median']:.1f} ({value['min']:.1f}\u2013{value['max']:.1f}) ms"


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _measure(tree: Path, runs: int) -> dict[str, float]:
    """In a process whose PYTHONPATH is `tree`: one rep of both figures for that tree."""
    sys.path.insert(0, str(tree))
    from backend.devtools.redis_server import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="ltq-docbench-"))
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    with RedisServer() as server:
        os.environ.update(
            REDIS_URL=server.url, KEY_PREFIX="ltqdoc:", ENVIRONMENT="test",
            JWT_SECRET=secrets.token_hex(32), DATABASE_URL=f"sqlite:///{tmp / 'doc.db'}",
            UPLOADS_DIR=str(tmp / "uploads"), LOG_LEVEL="WARNING", DATA_KEYS=f"bench:{key}",
        )  # fmt: skip
        from backend.core.db.migrate import upgrade
        from backend.devtools.commands import worker_command

        upgrade()
        worker = subprocess.Popen(
            worker_command(queues=["documents"], concurrency=2, hostname="doc@bench",
                           loglevel="WARNING"),
            cwd=tree, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=(tmp / "worker.log").open("wb"),
        )  # fmt: skip
        try:
            task_ms = _task_runtimes(runs)
        finally:
            worker.terminate()
            worker.wait(60)
    parse_ms = _parse_times(runs)
    return {
        "task_p50_ms": _percentile(task_ms, 50),
        "task_p95_ms": _percentile(task_ms, 95),
        "parse_p50_ms": _percentile(parse_ms, 50),
        "parse_p95_ms": _percentile(parse_ms, 95),
    }


def _pdf() -> bytes:
    from tests.support.document_files import text_pdf

    return text_pdf([f"Página {n}: contrato de locação, cláusula {n}." for n in range(1, 4)])


def _task_runtimes(runs: int) -> list[float]:
    from backend.adapters import file_store
    from backend.adapters.redis_clients import get_redis
    from backend.core.db.models import Document
    from backend.core.db.session import session_scope
    from backend.platform.enqueue import CeleryTaskService

    service = CeleryTaskService(get_redis())
    deadline = time.monotonic() + 60
    while not service.status.live_workers():
        if time.monotonic() > deadline:
            raise SystemExit("worker did not start")
        time.sleep(0.2)
    time.sleep(1)  # its pool children have started (and, in this tree, their zygotes)
    pdf, runtimes = _pdf(), []
    for _ in range(runs):
        document_id = str(uuid.uuid4())
        file_store.save(document_id, pdf, owner="bench")
        with session_scope() as session:
            session.add(
                Document(
                    id=document_id, owner="bench", filename="c.pdf",
                    content_type="application/pdf", size_bytes=len(pdf),
                    storage_path=file_store.storage_name(document_id),
                )
            )  # fmt: skip
        task_id = service.enqueue("documents.analyse_document", [document_id], owner="bench")
        record = _wait(service, task_id)
        runtimes.append(float(record["runtime_ms"]))
        time.sleep(GAP_S)
    return runtimes


def _parse_times(runs: int) -> list[float]:
    from backend.adapters.parser_process import parse_isolated

    pdf, times = _pdf(), []
    parse_isolated(pdf)  # this tree's start-up, if it has one, is not a document's
    for _ in range(runs):
        started = time.perf_counter()
        parse_isolated(pdf)
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(GAP_S)
    return times


def _wait(service: Any, task_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = service.status.get(task_id)
        if record and record["state"] in ("SUCCESS", "FAILURE", "REVOKED"):
            if record["state"] != "SUCCESS":
                raise SystemExit(f"{record['name']} {record['state']}: {record['error']}")
            return dict(record)
        time.sleep(0.01)
    raise SystemExit(f"task {task_id} did not finish")


if __name__ == "__main__":
    main()
