"""`make up`'s supervisor brings back every kind of process it runs after a SIGKILL, the work
finishes with nothing lost, Ctrl-C stops everything, and a crash loop stops everything."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import psutil

from tests.support.stack import Stack, port_answers
from tests.support.waiting import wait_for


def _kill(pid: int) -> float:
    os.kill(pid, signal.SIGKILL)
    return time.time()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_process_comes_back_and_no_work_is_lost(tmp_path: Path) -> None:
    stack = Stack(tmp_path).start()
    try:
        first = stack.state()["pids"]
        assert set(first) == {"redis", "smtp", "api", "w-interactive", "w-bulk", "beat", "flower"}

        # A worker's main process, SIGKILLed while it runs a backlog.
        key = uuid.uuid4().hex
        ids = [stack.submit("testing.sleep", [f"{key}-{i}", 0.5]) for i in range(12)]
        wait_for(lambda: stack.task(ids[0]).get("state") in {"STARTED", "SUCCESS"}, 60, "a start")
        killed_at = _kill(first["w-interactive"])
        stack.wait_restarted("w-interactive", 2)
        stack.wait_for_states(ids, {"SUCCESS"}, timeout=120)
        restarts = [
            at
            for task_id in ids
            for entry in stack.task(task_id)["history"]
            if entry["state"] == "STARTED"
            and (at := datetime.fromisoformat(entry["at"]).timestamp()) > killed_at
        ]
        resumed_after = min(restarts) - killed_at
        print(f"\nwork went on {resumed_after:.2f} s after the SIGKILL of the worker")
        assert all(stack.task(t)["state"] == "SUCCESS" for t in ids)  # nothing lost

        # Every other kind: killed, restarted, working again.
        checks = {
            "redis": None,
            "api": lambda: _healthy(stack.url),
            "w-bulk": None,
            "beat": None,
            "flower": lambda: port_answers(stack.flower_port),
            "smtp": lambda: port_answers(stack.smtp_port),
        }
        for name, works in checks.items():
            pid = stack.state()["pids"][name]
            _kill(pid)
            new_pid = stack.wait_restarted(name, 2)
            assert new_pid != pid
            if works is not None:
                wait_for(works, 60, f"{name} to work again")
            if name == "beat":
                time.sleep(2)
                assert psutil.pid_exists(new_pid), stack.output()[-2000:]
            if name in {"w-bulk", "redis"}:
                # The work goes on: through the restarted worker, or after the Redis restart.
                task_id = stack.submit("testing.sleep", [uuid.uuid4().hex, 0.1], queue="reports")
                stack.wait_for_states([task_id], {"SUCCESS"}, timeout=90)
        log = stack.output()
        restart_lines = [
            line for line in log.splitlines() if re.search(r"exited with code|restarted", line)
        ]
        print("\n".join(restart_lines))
        restarted = {line.split()[3] for line in restart_lines if "restarted (pid" in line}
        assert restarted == {"w-interactive", *checks}

        pids = [int(p) for p in stack.state()["pids"].values()]
        assert stack.interrupt() == 0
        assert "stopped" in stack.output().splitlines()[-1]
        wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), 10, "everything stopped")
    finally:
        stack.kill()


def test_a_crash_loop_stops_everything(tmp_path: Path) -> None:
    # Flower cannot bind its port: it exits at once, every time.
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stack = Stack(tmp_path, SUPERVISOR_CRASH_MAX="3", SUPERVISOR_BACKOFF_BASE_S="0.2")
    blocker.bind(("127.0.0.1", stack.flower_port))
    blocker.listen()
    try:
        stack.start(wait=False)
        assert stack.proc is not None
        code = stack.proc.wait(180)
    finally:
        blocker.close()
        stack.kill()
    log = stack.output()
    assert code == 1, log[-3000:]
    assert "flower exited 3 times within 60 s" in log and "crash loop" in log
    assert log.rstrip().splitlines()[-1].endswith("stopped")
