"""What the child that parses one document does, in a process forked for that document alone
by the parser's zygote (backend.domain.parsing_zygote).

It puts itself under the limits the request names (CPU, memory, file size, processes, open
files; before it touches the document), extracts the text, runs OCR when a PDF has no text
layer and OCR is installed (the PDF is written to its private $TMPDIR for that), and returns
one JSON-able answer. It imports nothing that reads settings, so the zygote starts fast and
sees only what the parent sends; the parent runs the zygote in the sandbox
(backend/adapters/sandbox.py). Request:

    {"cpu_s": 30, "memory_bytes": 1073741824, "max_processes": 16, "max_open_files": 64,
     "limits": {"max_pages": ..., "max_text_chars": ..., ...},
     "ocr": {"language": "por", "dpi": 200, "max_pages": 20, "timeout_s": 60}}

Answer: {"ok": true, "kind", "text", "page_count", "truncated", "ocr": {...}} or
{"ok": false, "code", "message"}.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from backend.domain.parsing import (
    DocumentKind,
    DocumentParseError,
    ExtractedText,
    OcrOutcome,
    ParseLimits,
    extract_text,
)
from backend.domain.parsing_ocr import OcrSettings, ocr_available, ocr_pdf

# Any single file written (OCR page images) stays below this.
_MAX_FILE_BYTES = 256 * 1024 * 1024


def apply_limits(
    *, cpu_s: int, memory_bytes: int, max_processes: int = 16, max_open_files: int = 64
) -> None:
    """CPU seconds (SIGXCPU, then SIGKILL a second later), address space, file size, processes,
    open files, no core dumps."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_MAX_FILE_BYTES, _MAX_FILE_BYTES))
    if max_processes > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))


def parse(data: bytes, limits: ParseLimits, ocr: OcrSettings) -> dict[str, Any]:
    extracted = extract_text(data, limits)
    outcome = OcrOutcome(needed=extracted.needs_ocr)
    if extracted.needs_ocr and extracted.kind is DocumentKind.PDF:
        with tempfile.TemporaryDirectory(prefix="doc-") as workdir:
            path = Path(workdir) / "document.pdf"
            path.write_bytes(data)
            extracted, outcome = _with_ocr(path, extracted, ocr, limits)
    return {
        "ok": True,
        "kind": extracted.kind.value,
        "text": extracted.text,
        "page_count": extracted.page_count,
        "truncated": extracted.truncated,
        "ocr": {
            "needed": outcome.needed,
            "applied": outcome.applied,
            "available": outcome.available,
            "language": outcome.language,
            "pages": outcome.pages,
        },
    }


def _with_ocr(
    path: Path, extracted: ExtractedText, ocr: OcrSettings, limits: ParseLimits
) -> tuple[ExtractedText, OcrOutcome]:
    if not ocr_available(ocr.language):
        return extracted, OcrOutcome(needed=True, available=False)
    try:
        text, pages = ocr_pdf(path, ocr)
    except (OSError, subprocess.SubprocessError):
        # A page OCR could not read leaves the document as it was: stored, OCR still needed.
        return extracted, OcrOutcome(needed=True, available=True, language=ocr.language)
    capped = text[: limits.max_text_chars]
    return (
        ExtractedText(
            kind=extracted.kind,
            text=capped,
            page_count=extracted.page_count,
            truncated=len(capped) < len(text),
        ),
        OcrOutcome(
            needed=True,
            applied=bool(capped.strip()),
            available=True,
            language=ocr.language,
            pages=pages,
        ),
    )


def answer(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    """Put this process under the request's limits, then parse `data`: the answer to send."""
    apply_limits(
        cpu_s=int(request["cpu_s"]),
        memory_bytes=int(request["memory_bytes"]),
        max_processes=int(request.get("max_processes", 16)),
        max_open_files=int(request.get("max_open_files", 64)),
    )
    os.umask(0o077)
    try:
        return parse(data, ParseLimits(**request["limits"]), OcrSettings(**request["ocr"]))
    except DocumentParseError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message}
    except MemoryError:
        return {
            "ok": False,
            "code": "memory_limit",
            "message": "parsing the document needed more memory than allowed",
        }
    except RecursionError:
        return {"ok": False, "code": "unreadable_document", "message": "nesting too deep"}
