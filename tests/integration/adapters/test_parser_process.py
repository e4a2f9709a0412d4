"""The isolated parser: a real child process under real CPU, memory and wall-clock limits.

Each limit is made small here so that a file which breaks it does so in about a second; the
defaults come from settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.adapters import parser_pool
from backend.adapters.parser_process import IsolationLimits, parse_isolated
from backend.core.errors import DocumentParseFailed
from backend.domain.parsing_ocr import ocr_available
from tests.support import document_files as files
from tests.support.parsers import document_children

GENEROUS = IsolationLimits(timeout_s=60, cpu_s=30, memory_bytes=1024**3)


def _write(tmp_path: Path, name: str, data: bytes) -> bytes:
    return data


def _failure(data: bytes, isolation: IsolationLimits = GENEROUS) -> DocumentParseFailed:
    with pytest.raises(DocumentParseFailed) as caught:
        parse_isolated(data, isolation=isolation)
    return caught.value


def _no_children_left() -> None:
    """The killed child is gone: under each zygote at most the child forked ahead for the next
    document is waiting."""
    for pid in parser_pool.pool().zygote_pids():
        assert len(document_children(pid)) <= 1


def test_text_comes_back_from_the_child(tmp_path: Path) -> None:
    # Enough text on every page that the text layer is used: with less, the page counts as
    # scanned and OCR (where Tesseract is installed) replaces what the layer held.
    pages = ["Página um do contrato", "Página dois: cláusulas", "Página três: assinaturas"]
    parsed = parse_isolated(_write(tmp_path, "a", files.text_pdf(pages)))
    assert parsed.extracted.page_count == 3 and not parsed.ocr.applied
    assert parsed.extracted.text == "\n\n".join(pages)


def test_refusals_inside_the_child_keep_their_code(tmp_path: Path) -> None:
    cases = {
        "too_many_pages": files.many_pages_pdf(10_000),
        "unreadable_document": files.looping_pdf(),
        "suspicious_archive": files.zip_bomb_docx(256 * 1024 * 1024),
        "unsupported_type": bytes(range(256)) * 8,
    }
    for code, data in cases.items():
        assert _failure(_write(tmp_path, code, data)).code == code


def test_wall_clock_limit_kills_the_child(tmp_path: Path) -> None:
    path = _write(tmp_path, "slow", files.text_pdf(["x"]))
    failure = _failure(path, IsolationLimits(timeout_s=0.01, cpu_s=30, memory_bytes=1024**3))
    assert failure.code == "timeout"
    _no_children_left()


def test_cpu_limit_kills_the_child(tmp_path: Path) -> None:
    # One page with 100,000 lines keeps pypdf's text extraction busy for tens of seconds.
    heavy = files.text_pdf(["\n".join(f"linha {i} do processo" for i in range(100_000))])
    path = _write(tmp_path, "heavy", heavy)
    failure = _failure(path, IsolationLimits(timeout_s=60, cpu_s=1, memory_bytes=1024**3))
    assert failure.code == "cpu_limit"
    _no_children_left()


def test_memory_limit_fails_the_parse(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.txt", b"texto " * (2 * 1024 * 1024))
    failure = _failure(path, IsolationLimits(timeout_s=60, cpu_s=30, memory_bytes=40 * 1024**2))
    assert failure.code in ("memory_limit", "parser_crashed")


def test_pdf_without_text_layer_reports_ocr(tmp_path: Path) -> None:
    parsed = parse_isolated(_write(tmp_path, "scan", files.blank_pdf(1)))
    assert parsed.ocr.needed
    if ocr_available("por"):
        assert parsed.ocr.available and parsed.ocr.language == "por"
    else:
        assert not parsed.ocr.available and not parsed.ocr.applied


@pytest.mark.skipif(not ocr_available("por"), reason="tesseract with 'por' or pdftoppm missing")
def test_ocr_runs_when_installed(tmp_path: Path) -> None:
    parsed = parse_isolated(_write(tmp_path, "scan", files.blank_pdf(2)))
    assert parsed.ocr.available
    assert parsed.ocr.pages == 2  # both pages rendered and read (blank: no text found)
