"""Document parsing isolated in a sandboxed child process, under CPU, memory, file-size,
process, open-file and wall-clock limits.

A hostile file (zip bomb, PDF that loops or has 10,000 pages, parser exploit) can at worst use
up its child's limits: the child is killed, the caller gets a DocumentParseFailed with a clear
code, and the worker process that asked carries on. The child is
`python -m backend.domain.parsing_worker` inside bubblewrap (backend/adapters/sandbox.py: no
network, no repository, `.env`, database or parent environment, runs as nobody, seccomp), in a
session of its own so that a kill also ends any OCR programs it started. The document's bytes
(decrypted by the caller) go in on stdin and never touch the disk outside the sandbox's private
in-memory /tmp. Where bubblewrap cannot run, the child runs unconfined under the same limits
with a private temporary folder that is removed afterwards, also when the child was killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

from backend.adapters import sandbox
from backend.core.errors import DocumentParseFailed
from backend.core.logging import get_logger
from backend.core.settings import ROOT_DIR, settings
from backend.domain.parsing import DocumentKind, ExtractedText, OcrOutcome, ParseLimits
from backend.domain.parsing_ocr import OcrSettings

log = get_logger(__name__)

_WORKER_MODULE = "backend.domain.parsing_worker"
# The child handles hostile input: it gets no secrets (JWT, SMTP, database URLs), only what
# running Python and the OCR programs needs.
_CHILD_ENV_KEYS = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TESSDATA_PREFIX")
# Processes (OCR runs two programs at a time) and open files the child may have.
MAX_PROCESSES = 16
MAX_OPEN_FILES = 64


@dataclass(frozen=True, slots=True)
class IsolationLimits:
    timeout_s: float
    cpu_s: int
    memory_bytes: int

    @classmethod
    def from_settings(cls) -> IsolationLimits:
        return cls(
            settings.parsing.parse_timeout_s,
            settings.parsing.parse_cpu_s,
            settings.parsing.parse_memory_bytes,
        )


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    extracted: ExtractedText
    ocr: OcrOutcome


def parse_limits_from_settings() -> ParseLimits:
    return ParseLimits(
        max_pages=settings.parsing.parse_max_pages,
        max_text_chars=settings.parsing.parse_max_text_chars,
        docx_max_uncompressed_bytes=settings.parsing.docx_max_uncompressed_bytes,
        docx_max_ratio=settings.parsing.docx_max_ratio,
    )


def ocr_settings_from_settings() -> OcrSettings:
    return OcrSettings(
        language=settings.parsing.ocr_language,
        dpi=settings.parsing.ocr_dpi,
        max_pages=settings.parsing.ocr_max_pages,
        timeout_s=settings.parsing.parse_timeout_s,
    )


def parse_isolated(
    data: bytes,
    *,
    isolation: IsolationLimits | None = None,
    limits: ParseLimits | None = None,
    ocr: OcrSettings | None = None,
) -> ParsedDocument:
    """Extract a document's text in a sandboxed, limited child process (limits from settings)."""
    isolation = isolation or IsolationLimits.from_settings()
    request = {
        "cpu_s": isolation.cpu_s,
        "memory_bytes": isolation.memory_bytes,
        # Counted per user: only the sandbox's own user (nobody, or a user namespace) is ours.
        "max_processes": MAX_PROCESSES if sandbox.mode().bwrap is not None else 0,
        "max_open_files": MAX_OPEN_FILES,
        "limits": asdict(limits or parse_limits_from_settings()),
        "ocr": asdict(ocr or ocr_settings_from_settings()),
    }
    payload = json.dumps(request).encode() + b"\n" + data
    with _child() as proc:
        try:
            out, _err = proc.communicate(payload, isolation.timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise DocumentParseFailed(
                "timeout", f"parsing took longer than {isolation.timeout_s:g} s"
            ) from None
    # stderr may quote the document; it is neither logged nor returned.
    return _answer(proc.returncode, out, isolation)


@contextlib.contextmanager
def _child() -> Any:
    """The parsing child, sandboxed where bubblewrap runs; killed and cleaned up on the way out
    (also on the task's own soft time limit or cancellation)."""
    argv = [sandbox.python_executable(), "-S", "-B", "-m", _WORKER_MODULE]
    mode = sandbox.mode()
    private_tmp = None
    with sandbox.seccomp() as seccomp_fd:
        if mode.bwrap is not None:
            fds = () if seccomp_fd is None else (seccomp_fd,)
            cmd, env, cwd = sandbox.command(mode, argv, seccomp_fd=seccomp_fd), {}, "/"
        else:
            fds = ()
            private_tmp = tempfile.mkdtemp(prefix="ltq-parse-")
            cmd, cwd = [sys.executable, "-m", _WORKER_MODULE], private_tmp
            env = {key: os.environ[key] for key in _CHILD_ENV_KEYS if key in os.environ}
            env.update(TMPDIR=private_tmp, PYTHONPATH=str(ROOT_DIR))
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env=env,
                pass_fds=fds,
            )
        except BaseException:
            if private_tmp is not None:
                shutil.rmtree(private_tmp, ignore_errors=True)
            raise
    try:
        yield proc
    finally:
        if proc.poll() is None:
            _kill(proc)
        if private_tmp is not None:
            shutil.rmtree(private_tmp, ignore_errors=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _answer(returncode: int, out: bytes, isolation: IsolationLimits) -> ParsedDocument:
    # A signal ends a plain child (-N); bubblewrap reports its child's signal as 128 + N.
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL):
        # SIGXCPU at the soft CPU limit, SIGKILL at the hard one (we killed it only on timeout).
        raise DocumentParseFailed(
            "cpu_limit", f"parsing used more than {isolation.cpu_s} s of CPU time"
        )
    try:
        answer: dict[str, Any] = json.loads(out) if returncode == 0 else {}
    except ValueError:
        answer = {}
    if not answer:
        log.warning("document_parser_crashed", returncode=returncode)
        # An allocation refused under RLIMIT_AS can end in an abort instead of a MemoryError.
        raise DocumentParseFailed(
            "parser_crashed", f"the parser stopped unexpectedly (exit status {returncode})"
        )
    if not answer.get("ok"):
        raise DocumentParseFailed(str(answer["code"]), str(answer["message"]))
    ocr = answer["ocr"]
    return ParsedDocument(
        extracted=ExtractedText(
            kind=DocumentKind(answer["kind"]),
            text=str(answer["text"]),
            page_count=answer["page_count"],
            truncated=bool(answer["truncated"]),
            needs_ocr=bool(ocr["needed"]),
        ),
        ocr=OcrOutcome(
            needed=bool(ocr["needed"]),
            applied=bool(ocr["applied"]),
            available=bool(ocr["available"]),
            language=ocr["language"],
            pages=int(ocr["pages"]),
        ),
    )
