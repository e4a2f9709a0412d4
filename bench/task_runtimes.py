"""Median runtime of every task type on this machine: `python bench/task_runtimes.py [--runs N]`.

Starts a private Redis, an SMTP server, a temporary SQLite database and one prefork worker
(-c 2) on every queue, runs each task type N times through CeleryTaskService, and prints
the p50/p95 runtime the platform itself records (task records' runtime_ms).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    opts = parser.parse_args()
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from backend.devtools.redis_server import RedisServer, free_port

    tmp = Path(tempfile.mkdtemp(prefix="ltq-runtimes-"))
    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    with RedisServer() as server:
        os.environ.update(
            REDIS_URL=server.url, KEY_PREFIX="ltqrt:", ENVIRONMENT="test", JWT_SECRET="x" * 40,
            DATABASE_URL=f"sqlite:///{tmp / 'rt.db'}", REPORTS_DIR=str(tmp / "reports"),
            UPLOADS_DIR=str(tmp / "uploads"), SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port),
            LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), DATA_KEYS=_data_keys(),
        )  # fmt: skip
        from backend.core.db.migrate import upgrade

        upgrade()
        from backend.devtools.commands import worker_command

        worker = subprocess.Popen(
            worker_command(queues=None, concurrency=2, hostname="rt@bench", loglevel="WARNING"),
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            _run(opts.runs)
        finally:
            worker.terminate()
            worker.wait(30)
            smtp.stop()


def _data_keys() -> str:
    """A fresh key-encryption key for the run (personal data is sealed at rest)."""
    import base64
    import secrets

    return f"bench:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def _store_upload(uploads: Path, document_id: str, data: bytes) -> None:
    """Store the file as the API does: sealed under the owner's data key where this tree
    seals uploads (the same script then measures a tree from before that, too)."""
    import inspect

    from backend.adapters import file_store

    if "owner" in inspect.signature(file_store.save).parameters:
        file_store.save(document_id, data, owner="bench")
    else:
        (uploads / document_id).write_bytes(data)


def _run(runs: int) -> None:
    from backend.adapters.redis_clients import get_redis
    from backend.core.db.models import Case, Document, Report
    from backend.core.db.session import session_scope
    from backend.platform.enqueue import CeleryTaskService
    from tests.support.document_files import text_pdf

    service = CeleryTaskService(get_redis())
    deadline = time.monotonic() + 30
    while not service.status.live_workers():
        if time.monotonic() > deadline:
            raise SystemExit("worker did not start")
        time.sleep(0.2)
    cases = [json.loads(line) for line in (ROOT / "tests/data/triage_cases.jsonl").open()]
    uploads = Path(os.environ["UPLOADS_DIR"])
    uploads.mkdir(parents=True, exist_ok=True)
    pdf = text_pdf([f"Página {n}: contrato de locação, cláusula {n}." for n in range(1, 4)])
    ids: list[str] = []
    for i in range(runs):
        with session_scope() as session:
            c = cases[i % len(cases)]
            case = Case(owner="bench", title=c["title"], description=c["description"],
                        client_email="cliente@example.com")  # fmt: skip
            session.add(case)
            session.flush()
            document_id = str(uuid.uuid4())
            _store_upload(uploads, document_id, pdf)
            session.add(Document(id=document_id, owner="bench", case_id=case.id,
                                 filename="c.pdf", content_type="application/pdf",
                                 size_bytes=len(pdf), storage_path=document_id))  # fmt: skip
            report = Report(owner="bench", period_hours=24, format="html" if i % 2 else "csv")
            session.add(report)
            session.flush()
            case_id, report_id = case.id, report.id
        triage = service.enqueue("triage.classify_case", [case_id], owner="bench")
        _wait(service, triage)  # the e-mail needs the triage
        ids += [
            service.enqueue("notifications.send_email", ["triage_completed", case_id]),
            service.enqueue("documents.analyse_document", [document_id], owner="bench"),
            service.enqueue("maintenance.ping"),
        ]
        if i < max(3, runs // 5):
            ids += [
                service.enqueue("reports.generate_operations_report", [report_id]),
                service.enqueue("maintenance.purge_expired"),
            ]
    for task_id in ids:
        _wait(service, task_id)
    print(f"{'task':<40} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8}")
    for name, stats in sorted(service.status.task_stats().items()):
        runtime, count = stats["runtime_ms"], stats["counts"].get("SUCCESS", 0)
        print(f"{name:<40} {count:>5} {runtime['p50']!s:>8} {runtime['p95']!s:>8}")


def _wait(service: Any, task_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = service.status.get(task_id)
        if record and record["state"] in ("SUCCESS", "FAILURE", "REVOKED"):
            if record["state"] != "SUCCESS":
                print(f"warning: {record['name']} {record['state']}: {record['error']}")
            return
        time.sleep(0.02)
    raise SystemExit(f"task {task_id} did not finish")


if __name__ == "__main__":
    main()
