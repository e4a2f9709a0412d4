"""Fixtures shared by the integration and end-to-end tests; unit tests use none of them.

pytest_configure only sets the environment (tests/support/environment.py). Servers start on
first use: the Redis and the migrated database with `services` (autouse in tests/integration
and tests/e2e), the rest when a test asks for them.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import environment  # noqa: E402
from tests.support.processes import SHARED_QUEUES, WorkerProcess  # noqa: E402
from tests.support.smtp import Mailbox  # noqa: E402

_state: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    _state["tmp"] = environment.prepare()


def pytest_unconfigure(config: pytest.Config) -> None:
    server = _state.get("redis")
    if server is not None:
        server.stop()
    if _state.get("tmp"):
        shutil.rmtree(_state["tmp"], ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Any:
    """The run's own redis-server, on the port the environment names (started once)."""
    if "redis" not in _state:
        from urllib.parse import urlsplit

        from backend.devtools.redis_server import RedisServer

        port = urlsplit(os.environ["REDIS_URL"]).port
        server = RedisServer(port=port, data_dir=_state["tmp"] / "redis", persistent=True)
        server.start()
        _state["redis"] = server
    return _state["redis"]


@pytest.fixture(scope="session")
def database() -> None:
    """The test database, migrated to the newest schema (once)."""
    from backend.core.db.migrate import upgrade

    upgrade()
    import tests.support.tasks  # noqa: F401  (registers the test instruments' specs here too)


@pytest.fixture(scope="session")
def services(redis_server: Any, database: None) -> None:
    """Redis and the database, for every integration and end-to-end test (autouse there)."""


@pytest.fixture()
def redis_client(redis_server: Any) -> Any:
    from backend.adapters.redis_clients import get_redis

    return get_redis()


@pytest.fixture()
def clean_redis(redis_client: Any) -> Any:
    """Flush the test Redis (ours alone) before a test that needs empty queues."""
    redis_client.flushdb()
    return redis_client


@pytest.fixture(scope="session")
def worker_factory(services: None) -> Iterator[Any]:
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


@pytest.fixture(scope="session")
def worker(worker_factory: Any) -> WorkerProcess:
    """One worker on every queue but reports, shared by the tests that just need tasks to run."""
    return worker_factory(SHARED_QUEUES)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(int(os.environ["SMTP_PORT"]))
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture(scope="session")
def app_client(services: None) -> Iterator[Any]:
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
