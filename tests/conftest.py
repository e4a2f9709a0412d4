"""Shared fixtures: a Redis server of our own, a fresh database, real worker processes, tokens.

The environment is set in pytest_configure, before any test module imports backend (its
settings are read once, at import). We never touch a Redis we did not start.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.devtools.redis_server import RedisServer  # noqa: E402

_state: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    from backend.devtools.redis_server import free_port

    tmp = Path(tempfile.mkdtemp(prefix="ltq-tests-"))
    server = RedisServer(data_dir=tmp / "redis", persistent=True)
    server.start()
    _state.update(tmp=tmp, redis=server)
    os.environ.update(
        ENVIRONMENT="test",
        JWT_SECRET="test-secret-0123456789-0123456789-abcdef",
        WEBHOOK_SECRET="test-webhook-secret-0123456789-abcdef",
        REDIS_URL=server.url,
        DATABASE_URL=f"sqlite:///{tmp / 'test.db'}",
        KEY_PREFIX="ltqtest:",
        REPORTS_DIR=str(tmp / "reports"),
        UPLOADS_DIR=str(tmp / "uploads"),
        EXTRA_TASK_MODULES="tests.support.tasks",
        LOG_LEVEL="WARNING",
        WORKER_HEARTBEAT_S="1",
        WORKER_HEARTBEAT_TTL_S="4",
        # Tests remove messages on purpose; the orphan sweep is tested on its own.
        ORPHAN_AFTER_S="86400",
        PYTHONPATH=str(ROOT),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(free_port()),
        OPERATOR_EMAILS='["ops@example.com"]',
        # Tests fail tasks on purpose; the failure alert is tested on a worker of its own.
        NOTIFY_OPERATORS_ON_FAILURE="false",
        PUBLIC_BASE_URL="http://testserver",
        # Tests submit in bursts; the API limits are tested with small ones of their own.
        # A breaker for the test service that test_circuit_breaker trips (fast cool-down).
        BREAKERS='{"llm": {}, "smtp": {}, "testsvc": {"fail_max": 3, "cooldown_s": 2}}',
        API_RATE_LIMITS='{"POST /api/tasks": "10000/minute", "POST /api/triage": "10000/minute"}',
    )
    from backend.core.db.migrate import upgrade

    upgrade()
    import tests.support.tasks  # noqa: F401  (registers the test instruments' specs here too)


def pytest_unconfigure(config: pytest.Config) -> None:
    server = _state.get("redis")
    if server is not None:
        server.stop()
    if _state.get("tmp"):
        shutil.rmtree(_state["tmp"], ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    return _state["redis"]  # type: ignore[no-any-return]


@pytest.fixture()
def redis_client(redis_server: RedisServer) -> Any:
    from backend.adapters.redis_clients import get_redis

    return get_redis()


@pytest.fixture()
def clean_redis(redis_client: Any) -> Any:
    """Flush the test Redis (ours alone) before a test that needs empty queues."""
    redis_client.flushdb()
    return redis_client


class WorkerProcess:
    def __init__(
        self,
        queues: list[str],
        concurrency: int = 2,
        pool: str = "prefork",
        env: dict[str, str] | None = None,
        hostname: str | None = None,
    ) -> None:
        from backend.devtools.commands import worker_command

        self.hostname = hostname or f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log = Path(_state["tmp"]) / f"{self.hostname}.log"
        self.cmd = worker_command(
            queues=queues, concurrency=concurrency, pool=pool, hostname=self.hostname,
            loglevel="WARNING",
        )  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, **(env or {})}

    def start(self, wait: bool = True) -> WorkerProcess:
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True, env=self.env,
        )  # fmt: skip
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        from backend.adapters.redis_clients import get_redis
        from backend.platform.status import TaskStatusManager

        status = TaskStatusManager(get_redis())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(w["hostname"] == self.hostname for w in status.live_workers()):
                return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready: {self.log.read_text()[-3000:]}")

    def child_pids(self) -> list[int]:
        import psutil

        assert self.proc is not None
        return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@pytest.fixture(scope="session")
def worker_factory() -> Iterator[Any]:
    started: list[WorkerProcess] = []

    def make(
        queues: list[str],
        concurrency: int = 2,
        start: bool = True,
        env: dict[str, str] | None = None,
        hostname: str | None = None,
    ) -> WorkerProcess:
        worker = WorkerProcess(queues, concurrency, env=env, hostname=hostname)
        started.append(worker)
        return worker.start() if start else worker

    yield make
    for worker in started:
        worker.stop()


# The shared worker leaves `reports` alone: tests that need an idle queue (priorities,
# depth) use it with a worker of their own.
SHARED_QUEUES = ["triage", "documents", "notifications", "maintenance"]


@pytest.fixture(scope="session")
def worker(worker_factory: Any) -> WorkerProcess:
    """One worker on every queue but reports, shared by the tests that just need tasks to run."""
    return worker_factory(SHARED_QUEUES)  # type: ignore[no-any-return]


class Mailbox:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import email

        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(int(os.environ["SMTP_PORT"]))
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture(scope="session")
def app_client() -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from backend.api.app import app

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def tokens() -> dict[str, str]:
    from backend.core.security.tokens import issue_token

    return {
        "alice": issue_token("alice", "client"),
        "bob": issue_token("bob", "client"),
        "operator": issue_token("olga", "operator"),
        "admin": issue_token("adam", "admin"),
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def read_sse(client: Any, path: str, token: str) -> list[tuple[str, dict[str, Any]]]:
    """Every (event name, JSON data) of a Server-Sent Events stream, until the server ends it."""
    import json

    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    with client.stream("GET", path, headers=auth(token)) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1])))
    return events


def triage_on_own_worker(
    worker_factory: Any, redis_client: Any, case_id: str, env: dict[str, str]
) -> dict[str, Any]:
    """Triage one case on a worker of its own with `env`, on `reports` (a queue the shared
    worker does not serve); returns the task's final status."""
    from backend.platform.enqueue import CeleryTaskService

    own = worker_factory(["reports"], concurrency=1, env=env)
    try:
        service = CeleryTaskService(redis_client)
        task_id = service.enqueue("triage.classify_case", [case_id], queue="reports")
        return wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"})
    finally:
        own.stop()


def wait_for_state(get: Any, task_id: str, states: set[str], timeout: float = 30) -> dict[str, Any]:
    """Poll a task's status until it reaches one of `states`."""
    deadline = time.monotonic() + timeout
    record: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        record = get(task_id)
        if record and record["state"] in states:
            return record
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not reach {states}: {record}")


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll `predicate` until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
