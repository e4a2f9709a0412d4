"""The child process that parses one document: `python -m backend.domain.parsing_worker`.

It reads one JSON request on stdin, puts itself under the CPU and memory limits it names
(before touching the file), extracts the text, runs OCR when a PDF has no text layer and OCR
is installed, and writes one JSON answer on stdout. It imports nothing that reads settings,
so it starts fast and sees only what the parent sends. Request:

    {"path": "...", "cpu_s": 30, "memory_bytes": 1073741824,
     "limits": {"max_pages": ..., "max_text_chars": ..., ...},
     "ocr": {"language": "por", "dpi": 200, "max_pages": 20, "timeout_s": 60}}

Answer: {"ok": true, "kind", "text", "page_count", "truncated", "ocr": {...}} or
{"ok": false, "code", "message"}.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
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


def apply_limits(*, cpu_s: int, memory_bytes: int) -> None:
    """CPU seconds (SIGXCPU, then SIGKILL a second later), address space, no core dumps."""
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_MAX_FILE_BYTES, _MAX_FILE_BYTES))


def parse(path: Path, limits: ParseLimits, ocr: OcrSettings) -> dict[str, Any]:
    extracted = extract_text(path.read_bytes(), limits)
    outcome = OcrOutcome(needed=extracted.needs_ocr)
    if extracted.needs_ocr and extracted.kind is DocumentKind.PDF:
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


def main() -> int:
    request = json.loads(sys.stdin.read())
    apply_limits(cpu_s=int(request["cpu_s"]), memory_bytes=int(request["memory_bytes"]))
    try:
        answer = parse(
            Path(request["path"]),
            ParseLimits(**request["limits"]),
            OcrSettings(**request["ocr"]),
        )
    except DocumentParseError as exc:
        answer = {"ok": False, "code": exc.code, "message": exc.message}
    except MemoryError:
        answer = {
            "ok": False,
            "code": "memory_limit",
            "message": "parsing the document needed more memory than allowed",
        }
    except RecursionError:
        answer = {"ok": False, "code": "unreadable_document", "message": "nesting too deep"}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
