"""Real API processes for tests: uvicorn started with `make up`'s command line."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from backend.devtools.commands import api_command
from backend.devtools.redis_server import free_port
from tests.support.environment import ROOT, tmp_dir


class ApiProcess:
    def __init__(self, *, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_dir() / f"api-{self.port}.log"
        self.cmd = api_command(self.port, workers=workers)
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ApiProcess:
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True, env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited: {Path(self.log).read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"API not up: {Path(self.log).read_text()[-3000:]}")

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
