"""The parser's zygote: `python -m backend.domain.parsing_zygote [--sweep]`, started once per
worker process inside the sandbox, forks one fresh, limited child per document.

Python's start-up and the parsing imports (pypdf and the modules it loads on first use) are
paid once, here; each document is still parsed by a process of its own, which starts its own
session, puts itself under the request's limits (parsing_worker.apply_limits), parses in a
private folder and exits after that one document. The zygote itself never parses anything.

Between documents nothing of one may reach the next: the zygote and its children are not
dumpable (another process of the same user cannot read their memory or open their file
descriptors through /proc), each child closes the zygote's pipes at once, the child's session
is killed once it has answered, its folder is removed, and with `--sweep` (only in the
sandbox, where the zygote has a PID namespace of its own) every other process left in the
namespace is killed and the private /tmp emptied, so nothing a hostile document started or
wrote outlives it.

Protocol on stdin/stdout, one document at a time:

    start:    {"ready": true}\\n
    request:  {"size": N, "timeout_s": T, <the child's request: cpu_s, memory_bytes, ...>}\\n
              then N bytes, the document
    response: {"returncode": R, "timeout": bool, "size": M}\\n then M bytes, the child's
              JSON answer (empty when it died); R as subprocess gives it (-N: killed by N)

EOF on stdin (the worker closed it, or died) kills the running child and ends the zygote.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backend.domain import parsing_worker
from backend.domain.parsing import ParseLimits, extract_text

# Larger requests are a protocol error (uploads are capped far below this).
MAX_REQUEST_BYTES = 512 * 1024 * 1024
_CHUNK = 256 * 1024
_PR_SET_DUMPABLE = 4
# How long an exited child's answer pipe may stay open (held by an escaped grandchild).
_EXIT_GRACE_S = 1.0
# A one-page text PDF: parsing it once loads every module pypdf imports on first use.
_WARM_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages "
    b"/Kids [4 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont "
    b"/Helvetica /Encoding /WinAnsiEncoding >>\nendobj\n4 0 obj\n<< /Type /Page /Parent 2 0 R "
    b"/MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>\n"
    b"endobj\n5 0 obj\n<< /Length 38 >>\nstream\nBT /F1 11 Tf 50 780 Td 14 TL\n(Ok) '\nET\n"
    b"endstream\nendobj\nxref\n0 6\n0000000000 65535 f \n0000000009 00000 n \n"
    b"0000000058 00000 n \n0000000115 00000 n \n0000000212 00000 n \n0000000338 00000 n \n"
    b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n426\n%%EOF\n"
)


class _Input:
    """Unbuffered reads from fd 0 (a buffered reader would hide bytes from select)."""

    def __init__(self) -> None:
        self.pending = b""

    def line(self) -> bytes:
        while b"\n" not in self.pending:
            chunk = os.read(0, _CHUNK)
            if not chunk:
                return b""
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line

    def exactly(self, size: int) -> bytes | None:
        parts, have = [self.pending[:size]], min(len(self.pending), size)
        self.pending = self.pending[size:]
        while have < size:
            chunk = os.read(0, min(_CHUNK, size - have))
            if not chunk:
                return None
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _not_dumpable() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _warm() -> None:
    limits = ParseLimits(max_pages=10, max_text_chars=1000)
    extract_text(_WARM_PDF, limits)
    extract_text("aquecimento, ação".encode(), limits)


class Spare:
    """A child forked ahead of its document: started, in its session and folder, warmed."""

    def __init__(self, tmp_root: Path) -> None:
        self.workdir = tempfile.mkdtemp(prefix="doc-", dir=tmp_root)
        request_r, self.request_fd = os.pipe()
        self.answer_fd, answer_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            _spare_main(request_r, answer_w, self.workdir)
        os.close(request_r)
        os.close(answer_w)

    def close(self) -> None:
        for fd in (self.request_fd, self.answer_fd):
            if fd >= 0:
                os.close(fd)
        self.request_fd = self.answer_fd = -1
        shutil.rmtree(self.workdir, ignore_errors=True)


def _spare_main(request_fd: int, answer_fd: int, workdir: str) -> None:
    """The forked child: waits for its one document, parses it, answers; never returns."""
    code = 70
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(request_fd, 0)
        os.dup2(answer_fd, 1)
        os.dup2(null, 2)  # what a parser prints may quote the document
        # The zygote's stdin and stdout (the worker's pipes) and every other of its files.
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.chdir(workdir)
        os.environ["TMPDIR"] = tempfile.tempdir = workdir
        # Copy-on-write: the pages a parse touches are copied now, not while a document waits.
        _warm()
        reader = _Input()
        line = reader.line()
        data = reader.exactly(int(json.loads(line)["size"])) if line else None
        if data is not None:
            _write_all(1, json.dumps(parsing_worker.answer(json.loads(line), data)).encode())
        code = 0
    finally:
        os._exit(code)


def _collect(pid: int, answer_fd: int, timeout_s: float) -> tuple[bytes, bool, bool]:
    """The child's answer, whether it timed out, and whether the worker went away meanwhile.
    Returns once the child has exited (or was killed) and its answer pipe is closed, or
    shortly after its exit if something outside its session still holds that pipe."""
    deadline = time.monotonic() + timeout_s
    pidfd = os.pidfd_open(pid)
    parts: list[bytes] = []
    timed_out = orphaned = False
    watched = {answer_fd, pidfd, 0}
    try:
        while answer_fd in watched:
            left = deadline - time.monotonic()
            if left <= 0:
                if pidfd not in watched or timed_out:
                    break  # exited (or killed) and still no EOF after the grace
                timed_out = True
                _kill_session(pid)
                deadline = time.monotonic() + _EXIT_GRACE_S
                continue
            ready, _, _ = select.select(list(watched), [], [], left)
            if 0 in ready:
                # Nothing is due on stdin during a document: readable means the worker is gone.
                orphaned = True
                watched.discard(0)
                _kill_session(pid)
            if pidfd in ready:
                # Exited: whatever it started goes too, so that its answer pipe closes.
                watched.discard(pidfd)
                _kill_session(pid)
                deadline = min(deadline, time.monotonic() + _EXIT_GRACE_S)
            if answer_fd in ready:
                chunk = os.read(answer_fd, _CHUNK)
                if chunk:
                    parts.append(chunk)
                else:
                    watched.discard(answer_fd)
    finally:
        os.close(pidfd)
    return b"".join(parts), timed_out, orphaned


def _kill_session(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _sweep(tmp_root: Path) -> None:
    """Kill every process in this PID namespace but ours and its init, empty the private /tmp."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    for entry in tmp_root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def run_one(spare: Spare, line: bytes, data: bytes) -> tuple[dict[str, Any], bytes]:
    """Hand one document to the spare child, wait for it (killing it at `timeout_s`): the
    response header and the child's answer; `orphaned` when stdin closed meanwhile."""
    try:
        # Should it have died before its document, its exit status below says so.
        with contextlib.suppress(BrokenPipeError):
            _write_all(spare.request_fd, line + b"\n" + data)
        os.close(spare.request_fd)
        spare.request_fd = -1
        timeout_s = float(json.loads(line)["timeout_s"])
        answer, timed_out, orphaned = _collect(spare.pid, spare.answer_fd, timeout_s)
        _, status = os.waitpid(spare.pid, 0)
    finally:
        spare.close()
    header = {
        "returncode": os.waitstatus_to_exitcode(status),
        "timeout": timed_out,
        "size": len(answer),
        "orphaned": orphaned,
    }
    return header, answer


def serve(*, sweep: bool) -> int:
    # A PID namespace of our own is what makes kill(-1) safe: there we are pid 2 under
    # bubblewrap's init. Anywhere else (fallback without a sandbox) it would be disastrous.
    sweep = sweep and os.getpid() == 2
    _not_dumpable()
    _warm()
    gc.collect()
    gc.freeze()  # the children share the zygote's pages instead of copying them on first GC
    tmp_root = Path(tempfile.gettempdir())
    stdin = _Input()
    spare = Spare(tmp_root)
    _write_all(1, b'{"ready": true}\n')
    while True:
        line = stdin.line()
        if not line:
            return 0
        size = int(json.loads(line)["size"])
        if not 0 <= size <= MAX_REQUEST_BYTES:
            return 2
        data = stdin.exactly(size)
        if data is None:
            return 0
        header, answer = run_one(spare, line, data)
        del data
        if header.pop("orphaned"):
            return 0
        _write_all(1, json.dumps(header).encode() + b"\n" + answer)
        # After answering, so that the worker does not wait for it: nothing of this document
        # is left, then the next child is forked and warms up while the worker carries on.
        if sweep:
            _sweep(tmp_root)
        spare = Spare(tmp_root)


if __name__ == "__main__":
    sys.exit(serve(sweep="--sweep" in sys.argv[1:]))
