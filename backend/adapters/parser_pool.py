"""Pre-started parser zygotes: Python's start-up, the sandbox's and the parsing imports paid
once per worker process instead of once per document.

A zygote is `python -m backend.domain.parsing_zygote`, in bubblewrap where it runs
(backend/adapters/sandbox.py), otherwise a plain child with a private temporary folder; it
forks a fresh child per document that applies the limits and exits after that document.
This process keeps one zygote per document it parses at the same time (one for a prefork
child, up to the thread count for a threads pool), started on first use or by `warm`.

- The child's wall-clock limit is enforced by the zygote, which kills the child and carries
  on; should the zygote itself not answer in time, it is killed here (and replaced later).
- A zygote that died (killed, crashed) is replaced and the document sent again, once.
- Anything interrupting a parse here (the task's soft time limit, a revocation) kills that
  zygote: what it was doing is unknown.
- `stop` (worker process shutdown, and at exit) ends every zygote; a zygote whose worker died
  sees its stdin close and ends itself and its child, and bubblewrap's `--die-with-parent`
  ends the sandbox too.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from backend.adapters import sandbox
from backend.core.errors import DocumentParseFailed
from backend.core.logging import get_logger
from backend.core.settings import ROOT_DIR

log = get_logger(__name__)

ZYGOTE_MODULE = "backend.domain.parsing_zygote"
# The zygote handles hostile input: it gets no secrets (JWT, SMTP, database URLs), only what
# running Python and the OCR programs needs.
_CHILD_ENV_KEYS = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TESSDATA_PREFIX")
START_TIMEOUT_S = 30.0
# Beyond the document's own wall-clock limit, which the zygote enforces on its child.
ANSWER_GRACE_S = 5.0
STOP_TIMEOUT_S = 2.0
_CHUNK = 256 * 1024


class ZygoteLost(Exception):
    """The zygote ended (or never became ready): the document never got an answer."""


class Zygote:
    """One started zygote and its pipes; used by one thread at a time."""

    def __init__(self) -> None:
        started = time.monotonic()
        self.private_tmp: str | None = None
        self._pending = b""
        mode = sandbox.mode()
        argv = [sandbox.python_executable(), "-S", "-B", "-m", ZYGOTE_MODULE]
        with sandbox.seccomp() as seccomp_fd:
            if mode.bwrap is not None:
                fds: tuple[int, ...] = () if seccomp_fd is None else (seccomp_fd,)
                # --sweep: it has a PID namespace and a /tmp of its own to clean after each.
                cmd = sandbox.command(mode, [*argv, "--sweep"], seccomp_fd=seccomp_fd)
                env: dict[str, str] = {}
                cwd = "/"
            else:
                fds = ()
                self.private_tmp = cwd = tempfile.mkdtemp(prefix="ltq-parse-")
                cmd = [sys.executable, "-m", ZYGOTE_MODULE]
                env = {key: os.environ[key] for key in _CHILD_ENV_KEYS if key in os.environ}
                env.update(TMPDIR=cwd, PYTHONPATH=str(ROOT_DIR))
            try:
                self.proc = subprocess.Popen(
                    cmd,
                    cwd=cwd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    # What a parser prints may quote the document: it goes nowhere.
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    env=env,
                    pass_fds=fds,
                )
            except BaseException:
                self._remove_tmp()
                raise
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        self._started, self._sandboxed, self._ready = started, mode.bwrap is not None, False

    def _wait_ready(self) -> None:
        """Its greeting, read on first use: starting one does not wait for Python to start."""
        if self._ready:
            return
        ready = self._header(time.monotonic() + START_TIMEOUT_S)
        if not ready.get("ready"):
            raise ZygoteLost(f"unexpected greeting {sorted(ready)}")
        self._ready = True
        log.info(
            "parser_zygote_started",
            sandboxed=self._sandboxed,
            startup_ms=round((time.monotonic() - self._started) * 1000, 1),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def parse(self, request: dict[str, Any], data: bytes) -> tuple[int, bool, bytes]:
        """(returncode, timed out, answer) of one document's child."""
        try:
            self._wait_ready()
        except TimeoutError as exc:
            raise ZygoteLost("not ready in time") from exc
        deadline = time.monotonic() + float(request["timeout_s"]) + ANSWER_GRACE_S
        try:
            self._send(json.dumps({**request, "size": len(data)}).encode() + b"\n" + data, deadline)
            header = self._header(deadline)
            answer = self._exactly(int(header["size"]), deadline)
        except TimeoutError:
            log.warning("parser_zygote_unresponsive", pid=self.pid)
            self.stop()
            return -signal.SIGKILL, True, b""
        return int(header["returncode"]), bool(header["timeout"]), answer

    def stop(self) -> None:
        """Close its stdin (it exits at once when idle); kill its session if it lingers."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdout.close()  # type: ignore[union-attr]
        self._remove_tmp()

    def forget(self) -> None:
        """In a forked child of this process: drop the pipes without touching the zygote,
        which is the parent's."""
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]
        self.proc.returncode = 0  # no "still running" warning from Popen.__del__

    def _remove_tmp(self) -> None:
        if self.private_tmp is not None:
            shutil.rmtree(self.private_tmp, ignore_errors=True)
            self.private_tmp = None

    def _send(self, payload: bytes, deadline: float) -> None:
        view = memoryview(payload)
        with selectors.DefaultSelector() as sel:
            sel.register(self._in, selectors.EVENT_WRITE)
            while view:
                if not sel.select(_left(deadline)):
                    raise TimeoutError
                try:
                    view = view[os.write(self._in, view) :]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError) as exc:
                    raise ZygoteLost("stdin closed") from exc

    def _read_more(self, deadline: float) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._out, selectors.EVENT_READ)
            if not sel.select(_left(deadline)):
                raise TimeoutError
        chunk = os.read(self._out, _CHUNK)
        if not chunk:
            raise ZygoteLost(f"exited with status {self.proc.wait()}")
        self._pending += chunk

    def _header(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._pending:
            self._read_more(deadline)
        line, _, self._pending = self._pending.partition(b"\n")
        header: dict[str, Any] = json.loads(line)
        return header

    def _exactly(self, size: int, deadline: float) -> bytes:
        while len(self._pending) < size:
            self._read_more(deadline)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


class ParserPool:
    """This process's zygotes: an idle one per document, a new one when none is idle."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._idle: list[Zygote] = []
        self._busy: set[Zygote] = set()

    def parse(self, request: dict[str, Any], data: bytes) -> tuple[int, bool, bytes]:
        for attempt in (1, 2):
            zygote = self._take()
            try:
                result = zygote.parse(request, data)
            except ZygoteLost as exc:
                # Killed or crashed between documents or under this one: send it again to a
                # fresh zygote, once (a document that kills two zygotes fails).
                log.warning("parser_zygote_lost", attempt=attempt, reason=str(exc)[:200])
                self._drop(zygote)
                continue
            except BaseException:
                self._drop(zygote)
                raise
            self._give_back(zygote)
            return result
        raise DocumentParseFailed("parser_crashed", "the parser stopped unexpectedly")

    def warm(self) -> None:
        """Start a zygote now if none is running, so that the first document does not wait
        for its start."""
        with self._lock:
            if self._idle or self._busy:
                return
        zygote = Zygote()
        self._give_back(zygote)

    def stop(self) -> None:
        with self._lock:
            zygotes, self._idle = [*self._idle, *self._busy], []
            self._busy.clear()
        for zygote in zygotes:
            zygote.stop()

    def forget(self) -> None:
        for zygote in [*self._idle, *self._busy]:
            zygote.forget()
        self._idle, self._busy = [], set()

    def zygote_pids(self) -> list[int]:
        with self._lock:
            return [z.pid for z in [*self._idle, *self._busy]]

    def _take(self) -> Zygote:
        with self._lock:
            while self._idle:
                zygote = self._idle.pop()
                if zygote.alive():
                    self._busy.add(zygote)
                    return zygote
                log.warning("parser_zygote_lost", attempt=0, reason="found dead while idle")
                zygote.stop()
        zygote = Zygote()
        with self._lock:
            self._busy.add(zygote)
        return zygote

    def _give_back(self, zygote: Zygote) -> None:
        with self._lock:
            self._busy.discard(zygote)
            if zygote.alive():
                self._idle.append(zygote)
                return
        zygote.stop()

    def _drop(self, zygote: Zygote) -> None:
        with self._lock:
            self._busy.discard(zygote)
        zygote.stop()


_pool: ParserPool | None = None
_pool_lock = threading.Lock()


def pool() -> ParserPool:
    """This process's pool (a forked child builds its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = ParserPool()
        return _pool


def warm() -> None:
    """Start this process's first zygote now (not waiting for it to be ready). Call it from
    the thread that will live as long as the process: bubblewrap's --die-with-parent ends the
    sandbox when the *thread* that started it exits."""
    try:
        pool().warm()
    except Exception as exc:  # the first document starts one (and reports why not)
        log.warning("parser_zygote_warm_failed", error=type(exc).__name__)


def stop() -> None:
    """Stop this process's zygotes (at worker process shutdown and at exit)."""
    with _pool_lock:
        current = _pool if _pool is not None and _pool.pid == os.getpid() else None
    if current is not None:
        current.stop()


def _after_fork_in_child() -> None:
    global _pool, _pool_lock
    _pool_lock = threading.Lock()
    if _pool is not None and _pool.pid != os.getpid():
        _pool.forget()
        _pool = None


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(stop)
