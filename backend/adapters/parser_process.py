"""Document parsing isolated in a child process, under CPU, memory and wall-clock limits.

A hostile file (zip bomb, PDF that loops or has 10,000 pages, parser bug) can at worst use up
its child's limits: the child is killed, the caller gets a DocumentParseFailed with a clear
code, and the worker process that asked carries on. The child is
`python -m backend.domain.parsing_worker`, in a session of its own so that a kill also ends
any OCR programs it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backend.core.errors import DocumentParseFailed
from backend.core.logging import get_logger
from backend.core.settings import ROOT_DIR, settings
from backend.domain.parsing import DocumentKind, ExtractedText, OcrOutcome, ParseLimits
from backend.domain.parsing_ocr import OcrSettings

log = get_logger(__name__)

_WORKER_MODULE = "backend.domain.parsing_worker"
# The child handles hostile input: it gets no secrets (JWT, SMTP, database URLs), only what
# running Python and the OCR programs needs.
_CHILD_ENV_KEYS = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TMPDIR", "TESSDATA_PREFIX")


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
    path: Path,
    *,
    isolation: IsolationLimits | None = None,
    limits: ParseLimits | None = None,
    ocr: OcrSettings | None = None,
) -> ParsedDocument:
    """Extract a stored document's text in a limited child process (limits from settings)."""
    isolation = isolation or IsolationLimits.from_settings()
    request = {
        "path": str(path),
        "cpu_s": isolation.cpu_s,
        "memory_bytes": isolation.memory_bytes,
        "limits": asdict(limits or parse_limits_from_settings()),
        "ocr": asdict(ocr or ocr_settings_from_settings()),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", _WORKER_MODULE],
        cwd=ROOT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={key: os.environ[key] for key in _CHILD_ENV_KEYS if key in os.environ},
    )
    try:
        try:
            out, _err = proc.communicate(json.dumps(request).encode(), isolation.timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise DocumentParseFailed(
                "timeout", f"parsing took longer than {isolation.timeout_s:g} s"
            ) from None
    finally:
        # Also on the task's own soft time limit or cancellation: never leave the child behind.
        if proc.poll() is None:
            _kill(proc)
    # stderr may quote the document; it is neither logged nor returned.
    return _answer(proc.returncode, out, isolation)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _answer(returncode: int, out: bytes, isolation: IsolationLimits) -> ParsedDocument:
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
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
