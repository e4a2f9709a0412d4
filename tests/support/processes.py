"""Real worker processes for tests: started with the same command line as `make up`, each in
its own process group so that a test can SIGKILL it whole, as a crash would."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from tests.support.environment import ROOT, tmp_dir
from tests.support.waiting import wait_for_state


class WorkerProcess:
    def __init__(
        self,
        queues: list[str],
        concurrency: int = 2,
        pool: str = "prefork",
        env: dict[str, str] | None = None,
        hostname: str | None = None,
        autoscale: tuple[int, int] | None = None,
    ) -> None:
        from backend.devtools.commands import worker_command

        self.hostname = hostname or f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log = tmp_dir() / f"{self.hostname}.log"
        self.cmd = worker_command(
            queues=queues, concurrency=concurrency, pool=pool, hostname=self.hostname,
            loglevel="WARNING", autoscale=autoscale,
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
                raise RuntimeError(f"worker exited: {Path(self.log).read_text()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready: {Path(self.log).read_text()[-3000:]}")

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


# The shared worker leaves `reports` alone: tests that need an idle queue (priorities,
# depth) use it with a worker of their own.
SHARED_QUEUES = ["triage", "documents", "notifications", "maintenance"]


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


class ApiProcess:
    """A real API process (uvicorn, as in deploy/Procfile) on a free loopback port, with the
    test run's environment or, if given, exactly `env`."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        from backend.devtools.redis_server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_dir() / f"api-{self.port}.log"
        self.env = dict(os.environ) if env is None else env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> ApiProcess:
        import sys

        cmd = [
            sys.executable, "-m", "uvicorn", "backend.api.app:app", "--host", "127.0.0.1",
            "--port", str(self.port), "--no-access-log",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True, env=self.env,
        )  # fmt: skip
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited: {self.output()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"API not ready: {self.output()[-3000:]}")

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
