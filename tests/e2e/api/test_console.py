"""The operator console in headless Chromium against a real API process and worker: it signs
in from the URL fragment, shows the five queues, follows a task to SUCCESS (live, over SSE),
replays a dead letter and pauses a queue from the page, with no console error."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.core.security.tokens import issue_token
from backend.platform import dead_letters
from backend.platform.enqueue import CeleryTaskService
from tests.support.browser import browser_page
from tests.support.servers import ApiProcess
from tests.support.waiting import wait_for_state

TIMEOUT_MS = 30_000


@pytest.fixture()
def api() -> Iterator[ApiProcess]:
    server = ApiProcess().start()
    yield server
    server.stop()


def test_console_shows_the_platform_and_acts_on_it(
    api: ApiProcess, worker: Any, redis_client: Any, tmp_path: Path
) -> None:
    service = CeleryTaskService(redis_client)
    token = issue_token("olga", "operator")
    with browser_page() as (page, errors):
        page.goto(f"{api.url}/console#token={token}")
        rows = page.locator("#queues tbody tr[data-queue]")
        rows.first.wait_for(timeout=TIMEOUT_MS)
        queues = [rows.nth(i).get_attribute("data-queue") for i in range(rows.count())]
        assert queues == ["triage", "documents", "notifications", "reports", "maintenance"]
        assert "token" not in page.url  # the fragment is dropped once read
        assert page.locator("#whoami").inner_text() == "olga (operator)"
        page.locator(f'#workers tr[data-worker="{worker.hostname}"]').wait_for(timeout=TIMEOUT_MS)

        # A task enqueued now appears, is followed live, and reaches SUCCESS on the page.
        task_id = service.enqueue("testing.sleep", [uuid.uuid4().hex, 6.0])
        row = page.locator(f'#tasks tr[data-task-id="{task_id}"]')
        row.wait_for(timeout=TIMEOUT_MS)
        row.click()
        page.locator("#detail-live", has_text="(live)").wait_for(timeout=TIMEOUT_MS)
        page.locator("#detail-state", has_text="SUCCESS").wait_for(timeout=TIMEOUT_MS)
        row.locator("td.state", has_text="SUCCESS").wait_for(timeout=TIMEOUT_MS)
        assert page.locator("#detail-history li", has_text="SUCCESS").count() == 1

        # A dead letter is replayed from the page.
        failed = service.enqueue(
            "testing.always_fail", [uuid.uuid4().hex], retry_policy={"max_attempts": 1}
        )
        wait_for_state(service.status.get, failed, {"FAILURE"})
        entry = page.locator(f'#dead-letters tr[data-dead-letter="{failed}"]')
        entry.wait_for(timeout=TIMEOUT_MS)
        page.once("dialog", lambda dialog: dialog.accept())
        entry.locator("button.replay").click()
        shown = entry.locator("td.replayed")
        shown.wait_for(timeout=TIMEOUT_MS)
        replayed_as = dead_letters.get(failed)["replayed_as"]
        assert replayed_as and shown.get_attribute("data-replayed-as") == replayed_as
        assert service.status.get(replayed_as)["retry_of"] == failed

        # A queue is paused and resumed from the page; the audit names who did it.
        reports = page.locator('#queues tr[data-queue="reports"]')
        reports.locator("button", has_text="Pause").click()
        reports.locator("td.state-paused").wait_for(timeout=TIMEOUT_MS)
        page.locator("#audit li", has_text="olga: queue_pause reports").wait_for(timeout=TIMEOUT_MS)
        reports.locator("button", has_text="Resume").click()
        reports.locator("td.state-active").wait_for(timeout=TIMEOUT_MS)

        page.locator(f'#tasks tr[data-task-id="{task_id}"]').click()
        page.locator("#detail-state", has_text="SUCCESS").wait_for(timeout=TIMEOUT_MS)
        shot = tmp_path / "console.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("LTQ_CONSOLE_SCREENSHOT"):
            shutil.copy(shot, os.environ["LTQ_CONSOLE_SCREENSHOT"])
    assert errors == []


def test_console_asks_for_a_token_and_refuses_a_client_one(api: ApiProcess) -> None:
    with browser_page() as (page, errors):
        page.goto(f"{api.url}/console")
        page.locator("#signin").wait_for(timeout=TIMEOUT_MS)
        assert page.locator("#console").is_hidden()
        page.fill("#token-input", issue_token("alice", "client"))
        page.click("#signin button[type=submit]")
        page.locator("#status", has_text="operator or admin token").wait_for(timeout=TIMEOUT_MS)
        assert page.locator("#console").is_hidden()
    assert errors == []
