"""Document parsing isolated in a sandboxed child process, under CPU, memory, file-size,
process, open-file and wall-clock limits.

A hostile file (zip bomb, PDF that loops or has 10,000 pages, parser exploit) can at worst use
up its child's limits: the child is killed, the caller gets a DocumentParseFailed with a clear
code, and the worker process that asked carries on. The child is forked for that one document
by a parser zygote started once per worker process (backend/adapters/parser_pool.py,
backend/domain/parsing_zygote.py) inside bubblewrap (backend/adapters/sandbox.py: no network,
no repository, `.env`, database or parent environment, runs as nobody, seccomp); it runs in a
session of its own so that a kill also ends any OCR programs it started. The document's bytes
(decrypted by the caller) go in through a pipe and never touch the disk outside the sandbox's
private in-memory /tmp. Where bubblewrap cannot run, the zygote runs unconfined and its
children under the same limits, in a private temporary folder removed after each document.
"""

from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass
from typing import Any

from backend.adapters import parser_pool, sandbox
from backend.core.errors import DocumentParseFailed
from backend.core.logging import get_logger
from backend.core.settings import settings
from backend.domain.parsing import DocumentKind, ExtractedText, OcrOutcome, ParseLimits
from backend.domain.parsing_ocr import OcrSettings

log = get_logger(__name__)

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
    """Extract a document's text in a sandboxed, limited child process (limits from settings),
    forked for this document by this process's parser zygote."""
    isolation = isolation or IsolationLimits.from_settings()
    request = {
        "timeout_s": isolation.timeout_s,
        "cpu_s": isolation.cpu_s,
        "memory_bytes": isolation.memory_bytes,
        # Counted per user: only the sandbox's own user (nobody, or a user namespace) is ours.
        "max_processes": MAX_PROCESSES if sandbox.mode().bwrap is not None else 0,
        "max_open_files": MAX_OPEN_FILES,
        "limits": asdict(limits or parse_limits_from_settings()),
        "ocr": asdict(ocr or ocr_settings_from_settings()),
    }
    returncode, timed_out, out = parser_pool.pool().parse(request, data)
    if timed_out:
        raise DocumentParseFailed("timeout", f"parsing took longer than {isolation.timeout_s:g} s")
    # The child's stderr may quote the document; it goes nowhere.
    return _answer(returncode, out, isolation)


def _answer(returncode: int, out: bytes, isolation: IsolationLimits) -> ParsedDocument:
    # The zygote reports a child ended by signal N as -N.
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
