"""The command lines of every process the stack runs: the one place `make up` and tests build them.

Each runs with this interpreter (`sys.executable`), so a venv's processes stay in that venv.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

CELERY_APP = "backend.platform.celery_app:celery_app"


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", CELERY_APP, *args]


def api_command(port: int, *, workers: int = 1) -> list[str]:
    """The FastAPI app under uvicorn on 127.0.0.1:`port`, in `workers` processes (their HTTP
    metrics merged through PROMETHEUS_MULTIPROC_DIR)."""
    return [
        sys.executable, "-m", "uvicorn", "backend.api.app:app",
        "--host", "127.0.0.1", "--port", str(port),
        # Access logs would carry URLs with case ids; the app logs requests itself, scrubbed.
        "--no-access-log",
        "--loop", "uvloop", "--http", "httptools",
        *(["--workers", str(workers)] if workers > 1 else []),
    ]  # fmt: skip


# Queue groups, each served by its own worker in `make up` and by its own systemd unit
# (deploy/systemd/ltq-worker@.service): slow documents and reports never hold up triage.
WORKER_GROUPS: dict[str, tuple[str, ...]] = {
    "interactive": ("triage", "notifications", "maintenance"),
    "bulk": ("documents", "reports"),
}


def worker_command(
    *,
    queues: Sequence[str] | None = None,
    concurrency: int = 2,
    pool: str = "prefork",
    hostname: str = "worker@%h",
    loglevel: str = "INFO",
    autoscale: tuple[int, int] | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """A Celery worker; with no `queues` it consumes every queue the app declares. With
    `autoscale` (max, min) its pool grows with the backlog up to max and shrinks back to min."""
    sizing = (
        [f"--autoscale={autoscale[0]},{autoscale[1]}"] if autoscale else ["-c", str(concurrency)]
    )
    command = _celery(
        "worker",
        "-P", pool,
        *sizing,
        "-n", hostname,
        # Gossip and mingle cost a round of broadcast per start and buy nothing we use.
        "--without-gossip", "--without-mingle",
        # No -E: task events cost the pool's parent process a publish per transition, and
        # Flower switches them on itself (enable_events) while it runs.
        "-l", loglevel,
    )  # fmt: skip
    if queues:
        command += ["-Q", ",".join(queues)]
    return command + list(extra)


def beat_command() -> list[str]:
    """Celery beat with RedBeat, whose Redis lock lets several beats run with one active."""
    return _celery("beat", "-S", "backend.worker.scheduler:ResilientRedBeatScheduler", "-l", "INFO")


def flower_command(*, port: int, user: str, password: str) -> list[str]:
    """Flower on 127.0.0.1 behind basic auth, reading the app's own broker."""
    return _celery(
        "flower", f"--port={port}", "--address=127.0.0.1", f"--basic-auth={user}:{password}"
    )


def migrate_command() -> list[str]:
    """Bring the SQL schema up to date (Alembic)."""
    return [sys.executable, "-m", "backend", "migrate"]


def token_command(user: str, role: str) -> list[str]:
    """Print an API bearer token for `user` with `role`."""
    return [sys.executable, "-m", "backend", "token", "--user", user, "--role", role]


def smtp_sink_command(port: int) -> list[str]:
    """A local SMTP server that files every message under the mailbox dir instead of sending it."""
    return [sys.executable, "-m", "backend.devtools.smtp_sink", "--port", str(port)]
