"""Batches over HTTP with a real worker, Redis, SMTP server and webhook receiver: per-item
errors, counts that reach completion (a case that fails for good counts as failed), the live
stream, exactly one completion e-mail and one signed webhook, replays, ownership, and the
`batch submit` command against a real uvicorn server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from backend.core.db.models import Case
from backend.core.db.session import session_scope
from backend.core.settings import settings
from backend.platform.enqueue import CeleryTaskService
from backend.services import batches, webhooks
from tests.support.cases import ARREST, PENSION, RENT
from tests.support.environment import ROOT
from tests.support.http import auth, read_sse
from tests.support.recipients import confirmed
from tests.support.waiting import wait_for

WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]  # set for every process in conftest


@pytest.fixture()
def service(redis_server: Any) -> CeleryTaskService:
    from backend.adapters.redis_clients import get_redis

    return CeleryTaskService(get_redis())


class Receiver:
    """A real HTTP server that records every POST (headers and body) and answers 204."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/batch"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.server.shutdown()


def hold_worker(service: CeleryTaskService, seconds: float = 4.0) -> None:
    """Keep both processes of the shared worker asleep, so what is submitted next waits."""
    key = uuid.uuid4().hex
    for i in range(2):
        service.enqueue("testing.sleep", [f"{key}-{i}", seconds], owner="olga")
    wait_for(
        lambda: all(service.redis.get(f"test:{key}-{i}:started") for i in range(2)),
        30,
        "the sleeping tasks to start",
    )


def corrupt(case_id: str) -> None:
    """Store bytes where the case's sealed text should be: opening it fails authentication,
    which no retry can fix, so the task fails for good."""
    with session_scope() as session:
        session.execute(
            text("UPDATE cases SET description_sealed = X'00ff' WHERE id = :id"), {"id": case_id}
        )


def read_stream(client: Any, token: str, batch_id: str) -> list[tuple[str, dict[str, Any]]]:
    return read_sse(client, f"/api/triage/batch/{batch_id}/stream", token)


def test_batch_runs_to_completion_with_per_item_results_and_one_callback_each(
    app_client: Any,
    tokens: dict[str, str],
    service: CeleryTaskService,
    worker: Any,
    mailbox: Any,
    receiver: Receiver,
) -> None:
    notify = f"lote-{uuid.uuid4().hex[:8]}@example.com"
    confirmed("alice", notify)  # the confirmation flow: test_recipients.py
    body = {
        "cases": [ARREST, {"title": "sem descrição"}, PENSION, RENT],
        "notify_email": notify,
        "callback_url": receiver.url,
    }
    hold_worker(service)
    r = app_client.post("/api/triage/batch", json=body, headers=auth(tokens["alice"]))
    assert r.status_code == 202, r.text
    accepted = r.json()
    batch_id = accepted["batch_id"]
    assert (accepted["accepted"], accepted["rejected"]) == (3, 1)
    assert accepted["batch_url"] == f"/api/triage/batch/{batch_id}"
    assert accepted["stream_url"] == f"/api/triage/batch/{batch_id}/stream"
    items = accepted["items"]
    assert items[1]["error"]["code"] == "validation_error" and "description" in str(items[1])
    assert all(items[i]["queued"] for i in (0, 2, 3))
    corrupt(items[2]["case_id"])

    events = read_stream(app_client, tokens["alice"], batch_id)
    names = [name for name, _ in events]
    assert names[0] == "batch_progress" and names[-1] == "batch_completed"
    assert names.count("batch_completed") == 1
    first, final = events[0][1], events[-1][1]
    assert (first["total"], first["done"], first["failed"], first["pending"]) == (3, 0, 0, 3)
    assert (final["done"], final["failed"], final["pending"], final["status"]) == (
        2,
        1,
        0,
        "completed",
    )
    finished = [data["done"] + data["failed"] for _, data in events]
    assert finished == sorted(finished) and len(set(finished)) == len(finished)

    batch = app_client.get(f"/api/triage/batch/{batch_id}", headers=auth(tokens["alice"])).json()
    assert (batch["total"], batch["done"], batch["failed"], batch["pending"]) == (3, 2, 1, 0)
    assert batch["status"] == "completed" and batch["completed_at"] is not None
    assert batch["next_offset"] is None
    results = {item["index"]: item for item in batch["items"]}
    assert sorted(results) == [0, 2, 3]
    assert (results[0]["status"], results[0]["area"], results[0]["error"]) == (
        "triaged",
        "criminal",
        None,
    )
    assert results[3]["status"] == "triaged"
    assert results[2]["status"] == "failed" and results[2]["error"]["type"] == "SealBroken"
    case = app_client.get(f"/api/triage/{results[2]['case_id']}", headers=auth(tokens["alice"]))
    assert case.json()["status"] == "failed" and case.json()["state"] == "FAILURE"

    wait_for(lambda: len(receiver.requests) == 1, 30, "the completion webhook")
    headers, raw = receiver.requests[0]
    signature = webhooks.sign(raw, headers[webhooks.TIMESTAMP_HEADER], WEBHOOK_SECRET)
    assert headers[webhooks.SIGNATURE_HEADER] == signature
    assert headers[webhooks.DELIVERY_HEADER] == f"batch_completed:{batch_id}"
    payload = json.loads(raw)
    assert payload == {
        "batch_id": batch_id,
        "total": 3,
        "done": 2,
        "failed": 1,
        "status": "completed",
        "completed_at": batch["completed_at"],
    }

    def completion_mails() -> list[Any]:
        return [m for m in mailbox.messages if m["To"] == notify]

    wait_for(lambda: len(completion_mails()) == 1, 30, "the completion e-mail")
    [mail] = completion_mails()
    assert (
        str(make_header(decode_header(mail["Subject"])))
        == "Lote de triagem concluído: 2 de 3 casos triados"
    )
    plain = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    body_text = plain.get_payload(decode=True).decode()
    assert "Com falha: 1" in body_text and f"/api/triage/batch/{batch_id}" in body_text

    # A redelivered success or failure recounts the same cases and completes nothing again.
    again = batches.mark_case_failed(results[2]["case_id"])
    with session_scope() as session:
        recount = batches.settle(session, batch_id)
    assert again is not None and recount is not None
    assert (again.staged, recount.staged) == ([], [])
    assert (recount.counts.done, recount.counts.failed) == (2, 1)


def test_a_cancelled_case_counts_as_failed_and_still_completes_the_batch(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any
) -> None:
    alice = auth(tokens["alice"])
    hold_worker(service)
    r = app_client.post("/api/triage/batch", json={"cases": [ARREST, RENT]}, headers=alice)
    assert r.status_code == 202, r.text
    batch_id, items = r.json()["batch_id"], r.json()["items"]
    cancel = app_client.delete(f"/api/tasks/{items[1]['task_id']}", headers=alice)
    assert cancel.status_code == 200, cancel.text

    def completed() -> bool:
        batch = app_client.get(f"/api/triage/batch/{batch_id}", headers=alice).json()
        return bool(batch["status"] == "completed")

    wait_for(completed, 30, "the batch to complete")
    batch = app_client.get(f"/api/triage/batch/{batch_id}", headers=alice).json()
    assert (batch["done"], batch["failed"], batch["pending"]) == (1, 1, 0)
    results = {item["index"]: item for item in batch["items"]}
    assert results[0]["status"] == "triaged"
    assert results[1]["status"] == "failed" and results[1]["error"]["type"] == "TaskRevoked"


def test_a_replayed_batch_is_the_same_batch_and_only_its_owner_sees_it(
    app_client: Any, tokens: dict[str, str]
) -> None:
    headers = {**auth(tokens["alice"]), "Idempotency-Key": f"batch-{uuid.uuid4().hex}"}
    body = {"cases": [ARREST, PENSION]}
    first = app_client.post("/api/triage/batch", json=body, headers=headers).json()
    again = app_client.post("/api/triage/batch", json=body, headers=headers).json()
    assert again["batch_id"] == first["batch_id"]
    assert [i["case_id"] for i in again["items"]] == [i["case_id"] for i in first["items"]]
    other = {**body, "notify_email": "outro@example.com"}
    conflict = app_client.post("/api/triage/batch", json=other, headers=headers)
    assert conflict.status_code == 409

    for route in ("/api/triage/batch/{id}", "/api/triage/batch/{id}/stream"):
        path = route.format(id=first["batch_id"])
        r = app_client.get(path, headers=auth(tokens["bob"]))
        assert r.status_code == 404 and r.json()["error"]["code"] == "batch_not_found"
        assert app_client.get(path).status_code == 401
    seen = app_client.get(
        f"/api/triage/batch/{first['batch_id']}", headers=auth(tokens["operator"])
    )
    assert seen.status_code == 200 and seen.json()["total"] == 2


@pytest.mark.parametrize(
    ("callback_url", "environment"),
    [
        ("ftp://example.com/hook", "test"),
        ("http://user:secret@example.com/hook", "test"),
        ("http://localhost:9/hook", "production"),
        ("http://10.1.2.3/hook", "production"),
        ("http://[::1]/hook", "production"),
    ],
)
def test_a_bad_callback_url_is_refused_and_creates_nothing(
    app_client: Any,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    callback_url: str,
    environment: str,
) -> None:
    monkeypatch.setattr(settings.app, "environment", environment)
    before = count_cases()
    r = app_client.post(
        "/api/triage/batch",
        json={"cases": [PENSION], "callback_url": callback_url},
        headers=auth(tokens["alice"]),
    )
    assert r.status_code == 422 and "callback_url" in r.json()["error"]["message"]
    assert count_cases() == before


def test_a_callback_needs_the_webhook_secret(
    app_client: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings.webhooks, "secret", None)
    r = app_client.post(
        "/api/triage/batch",
        json={"cases": [PENSION], "callback_url": "https://example.com/hook"},
        headers=auth(tokens["alice"]),
    )
    assert r.status_code == 422 and "WEBHOOK_SECRET" in r.json()["error"]["message"]


def count_cases() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


# --- the command line ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under a real uvicorn: the command talks HTTP."""
    from backend.devtools.commands import api_command

    port = _free_port()
    log = tmp_path_factory.mktemp("api") / "uvicorn.log"
    proc = subprocess.Popen(
        api_command(port), cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", "batch", "submit", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LTQ_TOKEN": ""},
    )


def test_the_command_submits_a_file_follows_it_and_reruns_without_duplicates(
    api_url: str, tokens: dict[str, str], worker: Any, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex[:8]
    lines = [
        json.dumps({**ARREST, "title": f"{ARREST['title']} {marker}"}),
        json.dumps({"title": "sem descrição"}),
        json.dumps(PENSION),
        json.dumps({**RENT, "client_email": "cliente@example.com"}),
    ]
    cases_file = tmp_path / "cases.jsonl"
    cases_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = [str(cases_file), "--url", api_url, "--token", tokens["alice"], "--chunk", "2"]

    before = count_cases()
    first = run_cli(*args)
    assert first.returncode == 1, first.stderr
    assert "line 2: rejected: description: must be a non-empty string" in first.stdout
    assert "finished: 3 triaged, 0 failed, 1 rejected (4 in file, 2 batches)" in first.stdout
    assert "3/3 done=3 failed=0" in first.stderr  # the bar's last line
    assert count_cases() == before + 3

    again = run_cli(*args)
    assert again.returncode == 1, again.stderr
    batch_lines = [line for line in first.stdout.splitlines() if line.startswith("batch ")]
    assert len(batch_lines) == 2
    assert [ln for ln in again.stdout.splitlines() if ln.startswith("batch ")] == batch_lines
    assert count_cases() == before + 3


def test_the_command_without_a_token_or_api_is_a_usage_error(tmp_path: Path) -> None:
    cases_file = tmp_path / "cases.jsonl"
    cases_file.write_text(json.dumps(PENSION) + "\n", encoding="utf-8")
    no_token = run_cli(str(cases_file))
    assert no_token.returncode == 2 and "token" in no_token.stderr
    missing = run_cli(str(tmp_path / "absent.jsonl"), "--token", "x")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
