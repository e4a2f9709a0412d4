"""The parser zygotes of a real worker: each pool child that serves `documents` starts one
when it starts, documents are parsed through it, and stopping the worker leaves no parser
process behind."""

from __future__ import annotations

import uuid
from typing import Any

import psutil

from backend.adapters import file_store
from backend.core.db.models import Document
from backend.core.db.session import session_scope
from backend.platform.enqueue import CeleryTaskService
from tests.support.document_files import text_pdf
from tests.support.processes import WorkerProcess
from tests.support.waiting import wait_for, wait_for_state


def _zygotes(worker: WorkerProcess) -> list[psutil.Process]:
    """The processes a pool child started for its zygote (bubblewrap's or the zygote's)."""
    found = []
    for pid in worker.child_pids():
        try:
            process = psutil.Process(pid)
            parent = process.parent()
            if (
                parent is not None
                and "backend.domain.parsing_zygote" in " ".join(process.cmdline())
                and "backend.domain.parsing_zygote" not in " ".join(parent.cmdline())
            ):
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def _stored_pdf(owner: str) -> str:
    document_id = str(uuid.uuid4())
    pdf = text_pdf([f"Página {n}: contrato de locação, cláusula {n}." for n in range(1, 4)])
    file_store.save(document_id, pdf, owner=owner)
    with session_scope() as session:
        session.add(
            Document(
                id=document_id, owner=owner, filename="contrato.pdf",
                content_type="application/pdf", size_bytes=len(pdf),
                storage_path=file_store.storage_name(document_id),
            )
        )  # fmt: skip
    return document_id


def test_a_worker_starts_its_parsers_once_and_stops_them(
    worker_factory: Any, redis_client: Any
) -> None:
    # `reports` carries the documents here: the shared worker also serves `documents`.
    own = worker_factory(["reports", "documents"], concurrency=2)
    wait_for(lambda: len(_zygotes(own)) == 2, 60, "a zygote per pool child")
    started = {p.pid for p in _zygotes(own)}
    service = CeleryTaskService(redis_client)
    for _ in range(3):
        task_id = service.enqueue(
            "documents.analyse_document", [_stored_pdf("alice")], owner="alice", queue="reports"
        )
        record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"}, timeout=60)
        assert record["state"] == "SUCCESS", record
        assert record["result"]["page_count"] == 3
    assert {p.pid for p in _zygotes(own)} == started  # no document paid for a start
    parsers = [p for root in _zygotes(own) for p in [root, *root.children(recursive=True)]]
    own.stop()
    _, alive = psutil.wait_procs(parsers, timeout=15)
    assert alive == []
