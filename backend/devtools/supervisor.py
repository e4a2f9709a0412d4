"""`make up`'s supervisor: long-running children that come back when they crash.

Each child runs in its own process group with its output prefixed by its name. A child that
exits on its own is restarted after a backoff (base, doubled for each crash in the window,
capped), and each restart is logged; a child that crashes `crash_max` times within
`crash_window_s` is a crash loop, and everything stops. Ctrl-C (or SIGTERM) stops everything:
SIGTERM goes to each group's leader only, so a Celery worker's warm shutdown lets its running
tasks finish, then the group is SIGKILLed after the timeout. The Redis `make up` started is
supervised the same way (`RedisProgram`). The pids of the current children are written to
`<var>/run/pids.json` after each (re)start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

STOP_TIMEOUT_S = 10.0

_print_lock = threading.Lock()


def say(line: str, name: str = "run_all") -> None:
    """One line of output: a child's own (its name first), or the supervisor's (timestamped)."""
    if name == "run_all":
        line = f"{time.strftime('%H:%M:%S')} {line}"
    # A closed terminal or pipe must not abort the shutdown of the children.
    with _print_lock, contextlib.suppress(OSError):
        print(f"{name:>8} | {line}", flush=True)


def _pump(name: str, stream: IO[bytes]) -> None:
    for raw in iter(stream.readline, b""):
        say(raw.decode(errors="replace").rstrip(), name)
    stream.close()


class CrashLoop(Exception):
    """A child crashed too often within the window: everything stops."""


@dataclass(frozen=True)
class RestartPolicy:
    crash_max: int = 5
    crash_window_s: float = 60.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 15.0

    def delay(self, crashes_in_window: int) -> float:
        return float(
            min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, crashes_in_window - 1))
        )


class Program(Protocol):
    name: str

    def start(self) -> None: ...
    def exit_code(self) -> int | None: ...  # None while it runs
    def pid(self) -> int | None: ...
    def terminate(self) -> None: ...  # SIGTERM to the leader only
    def kill_group(self) -> None: ...  # after the stop timeout


class ProcessProgram:
    """A command run in its own session (process group), its output pumped with its name."""

    def __init__(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own group: the terminal's Ctrl-C reaches only us, and we stop children in order.
            start_new_session=True,
            env=self.env,
        )
        assert self.process.stdout is not None
        self._pump = threading.Thread(
            target=_pump, args=(self.name, self.process.stdout), daemon=True
        )
        self._pump.start()

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def terminate(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def kill_group(self) -> None:
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            # The leader is not reaped yet, so the group is still its own: this also ends
            # whatever the child left behind in it (pool processes of a SIGKILLed worker).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if self._pump is not None:
            self._pump.join(timeout=1)

    def reap_group(self) -> None:
        """After a crash: end what the dead leader left in its group (a worker's pool)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class _Slot:
    program: Program
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    starts: int = 0


class Supervisor:
    def __init__(
        self,
        policy: RestartPolicy,
        pids_file: Path | None = None,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy
        self.pids_file = pids_file
        self.on_start = on_start
        self.slots: dict[str, _Slot] = {}

    def spawn(self, program: Program) -> None:
        slot = _Slot(program)
        self.slots[program.name] = slot
        self._start(slot)

    def _start(self, slot: _Slot) -> None:
        slot.program.start()
        slot.starts += 1
        slot.restart_at = None
        if slot.starts > 1:
            say(f"{slot.program.name} restarted (pid {slot.program.pid()}, start {slot.starts})")
        self._write_pids()
        if self.on_start is not None:
            self.on_start(slot.program.name)

    def _write_pids(self) -> None:
        if self.pids_file is None:
            return
        self.pids_file.parent.mkdir(parents=True, exist_ok=True)
        pids = {name: s.program.pid() for name, s in self.slots.items()}
        starts = {name: s.starts for name, s in self.slots.items()}
        tmp = self.pids_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pids": pids, "starts": starts, "supervisor": os.getpid()}))
        tmp.replace(self.pids_file)

    def tick(self) -> None:
        """Notice exits and restart what is due; raises CrashLoop when one crashes too often."""
        now = time.monotonic()
        for name, slot in self.slots.items():
            if slot.restart_at is not None:
                if now >= slot.restart_at:
                    self._start(slot)
                continue
            code = slot.program.exit_code()
            if code is None:
                continue
            if isinstance(slot.program, ProcessProgram):
                slot.program.reap_group()
            slot.crashes.append(now)
            while slot.crashes and now - slot.crashes[0] > self.policy.crash_window_s:
                slot.crashes.popleft()
            count = len(slot.crashes)
            if count >= self.policy.crash_max:
                raise CrashLoop(
                    f"{name} exited {count} times within {self.policy.crash_window_s:.0f} s "
                    f"(last code {code}): crash loop"
                )
            delay = self.policy.delay(count)
            say(
                f"{name} exited with code {code} ({count} in {self.policy.crash_window_s:.0f} s); "
                f"restarting in {delay:.1f} s"
            )
            slot.restart_at = now + delay

    def running(self, name: str) -> bool:
        slot = self.slots.get(name)
        return slot is not None and slot.restart_at is None and slot.program.exit_code() is None

    def stop_all(self) -> None:
        # SIGTERM goes to each group leader only: a Celery worker's warm shutdown lets running
        # tasks finish, whereas its pool processes die at once on a SIGTERM of their own.
        programs = [s.program for s in self.slots.values()]
        for program in programs:
            program.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for program in programs:
            while program.exit_code() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if program.exit_code() is None:
                say(f"{program.name} still running after {STOP_TIMEOUT_S:.0f} s: SIGKILL")
            program.kill_group()
        if self.pids_file is not None:
            self.pids_file.unlink(missing_ok=True)
