"""`make up`'s supervisor (backend/devtools/run_all.py) as a test runs it: the whole stack on
free ports, its own Redis, database and var dir, its output in a log file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from backend.core.security.tokens import issue_token
from backend.devtools.redis_server import free_port
from tests.support.environment import ROOT


class Stack:
    def __init__(self, tmp: Path, **env: str) -> None:
        self.tmp = tmp
        self.var = tmp / "var"
        self.log = tmp / "run_all.log"
        self.api_port, self.flower_port, self.smtp_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # run_all starts this Redis
            "KEY_PREFIX": "ltqstack:",
            "DATABASE_URL": f"sqlite:///{tmp / 'stack.db'}",
            "SUPERVISOR_VAR_DIR": str(self.var),
            "MAILBOX_DIR": str(tmp / "mailbox"),
            "API_PORT": str(self.api_port),
            "FLOWER_PORT": str(self.flower_port),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "WORKER_HEARTBEAT_S": "1",
            "WORKER_HEARTBEAT_TTL_S": "4",
            "REAPER_INTERVAL_S": "2",
            "WORKER_AUTOSCALE_MAX": "2",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = issue_token("stack-operator", "operator")

    def start(self, *, wait: bool = True, timeout: float = 180) -> Stack:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.devtools.run_all"], cwd=ROOT, env=self.env,
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        if wait:
            self.wait_for_line("Crashed processes restart", timeout)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"run_all exited: {self.output()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} within {timeout} s: {self.output()[-4000:]}")

    def state(self) -> dict[str, Any]:
        return json.loads((self.var / "run" / "pids.json").read_text())  # type: ignore[no-any-return]

    def wait_restarted(self, name: str, starts: int, timeout: float = 60) -> int:
        """Wait until `name` was started `starts` times; its new pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state["starts"].get(name, 0) >= starts:
                return int(state["pids"][name])
            time.sleep(0.1)
        raise AssertionError(f"{name} not restarted: {self.output()[-3000:]}")

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=10, headers={"Authorization": f"Bearer {self.token}"}
        )

    def submit(self, name: str, args: list[Any], **fields: Any) -> str:
        with self.client() as client:
            r = client.post("/api/tasks", json={"name": name, "args": args, **fields})
        assert r.status_code == 202, r.text
        return str(r.json()["task_id"])

    def task(self, task_id: str) -> dict[str, Any]:
        with self.client() as client:
            r = client.get(f"/api/tasks/{task_id}")
        return r.json() if r.status_code == 200 else {}  # type: ignore[no-any-return]

    def wait_for_states(self, ids: list[str], states: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for task_id in list(pending):
                try:
                    if self.task(task_id).get("state") in states:
                        pending.discard(task_id)
                except httpx.HTTPError:
                    pass  # the API is restarting
            time.sleep(0.3)
        assert not pending, f"{len(pending)} tasks never reached {states}: {self.output()[-3000:]}"

    def interrupt(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False
