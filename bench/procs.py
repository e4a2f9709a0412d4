"""Child processes of the benchmark: each in its own process group, always stopped.

`stop()` sends SIGTERM to the group, waits up to 10 s for every member to go, then SIGKILLs
the group. `/proc` gives each group's CPU time, so a run can say where the time went.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

STOP_TIMEOUT_S = 10.0
_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which may hold spaces and parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def group_members(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(int(entry))
        if fields and int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 if it is gone)."""
    fields = _stat(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


class Child:
    """One command started in a new session (its own process group), output to a log file."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_dir: Path,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_by_pid(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in group_members(self.pid)}

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> float:
        """SIGTERM the group, SIGKILL it after `timeout`; returns the seconds it took."""
        started = time.monotonic()
        self._signal_group(signal.SIGTERM)
        deadline = started + timeout
        while time.monotonic() < deadline:
            self.process.poll()
            if not group_members(self.pid):
                break
            time.sleep(0.05)
        else:
            self._signal_group(signal.SIGKILL)
        self._signal_group(signal.SIGKILL)  # stragglers whose leader already left
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a crash would: no shutdown handler runs."""
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT_S)


class Children:
    """Every child the run started; `stop_all` ends them in reverse order of start."""

    def __init__(self, env: Mapping[str, str], cwd: Path, log_dir: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.log_dir = log_dir
        self.running: list[Child] = []
        self._count = 0

    def start(self, name: str, command: Sequence[str]) -> Child:
        self._count += 1
        child = Child(
            f"{self._count:03d}-{name}", command, env=self.env, cwd=self.cwd, log_dir=self.log_dir
        )
        self.running.append(child)
        return child

    def stop(self, child: Child) -> float:
        try:
            return child.stop()
        finally:
            if child in self.running:
                self.running.remove(child)

    def kill(self, child: Child) -> None:
        try:
            child.kill()
        finally:
            if child in self.running:
                self.running.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.running)):
            self.stop(child)
