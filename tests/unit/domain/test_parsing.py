"""Type sniffing and text extraction, on files made here (tests/support/document_files.py)."""

from __future__ import annotations

import io
import zipfile

import pytest

from backend.domain.parsing import (
    DocumentKind,
    DocumentParseError,
    ExtractedText,
    OcrOutcome,
    ParseLimits,
    SuspiciousArchive,
    TooManyPages,
    UnsupportedDocument,
    build_analysis,
    decode_text,
    extract_text,
    sniff,
)
from tests.support import document_files as files

LIMITS = ParseLimits()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (files.text_pdf(["um"]), DocumentKind.PDF),
        (b"\n\n%PDF-1.7 with junk before the header", DocumentKind.PDF),
        (files.docx(["um"]), DocumentKind.DOCX),
        ("Procuração ad judicia".encode(), DocumentKind.TXT),
        ("Procuração ad judicia".encode("cp1252"), DocumentKind.TXT),
        ("\ufeffcom BOM".encode(), DocumentKind.TXT),
    ],
)
def test_sniff_reads_the_content(data: bytes, kind: DocumentKind) -> None:
    assert sniff(data) is kind


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"texto com \x00 NUL",
        bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 32,
        b"PK\x03\x04 not really a zip",
    ],
)
def test_sniff_refuses_binary_and_unknown_content(data: bytes) -> None:
    assert sniff(data) is None


def test_a_zip_without_a_word_body_is_not_a_docx() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert sniff(buffer.getvalue()) is None


def test_the_name_does_not_matter_only_the_bytes() -> None:
    # A PDF called .txt is a PDF; there is no name to pass at all.
    assert sniff(files.text_pdf(["x"])) is DocumentKind.PDF


def test_latin1_text_is_decoded() -> None:
    assert decode_text("ação".encode("latin-1")) == "ação"


def test_pdf_text_and_page_count() -> None:
    pages = ["Página um: CPF 529.982.247-25", "Página dois", "JULGO PROCEDENTE o pedido"]
    extracted = extract_text(files.text_pdf(pages), LIMITS)
    assert extracted.kind is DocumentKind.PDF
    assert extracted.page_count == 3
    assert extracted.text.split("\n\n") == pages
    assert not extracted.needs_ocr and not extracted.truncated


def test_pdf_without_text_layer_needs_ocr() -> None:
    extracted = extract_text(files.blank_pdf(2), LIMITS)
    assert extracted.page_count == 2
    assert extracted.needs_ocr


def test_pdf_over_the_page_limit_is_refused_before_extraction() -> None:
    with pytest.raises(TooManyPages, match="10000 pages"):
        extract_text(files.many_pages_pdf(10_000), LIMITS)


def test_pdf_that_understates_its_page_count_is_still_refused() -> None:
    with pytest.raises(TooManyPages, match="600 pages"):
        extract_text(files.understated_pages_pdf(600), LIMITS)


def test_pdf_with_a_page_tree_loop_is_unreadable() -> None:
    with pytest.raises(DocumentParseError) as caught:
        extract_text(files.looping_pdf(), LIMITS)
    assert caught.value.code == "unreadable_document"


def test_truncated_pdf_is_unreadable() -> None:
    data = files.text_pdf(["um"])
    with pytest.raises(DocumentParseError):
        extract_text(data[: len(data) // 3], LIMITS)


def test_text_is_capped() -> None:
    extracted = extract_text(files.text_pdf(["a" * 50, "b" * 50]), ParseLimits(max_text_chars=60))
    assert len(extracted.text) == 60 and extracted.truncated


def test_docx_paragraphs_and_saved_page_count() -> None:
    extracted = extract_text(
        files.docx(["CLÁUSULA PRIMEIRA", "Do objeto & <preço>"], pages=4), LIMITS
    )
    assert extracted.kind is DocumentKind.DOCX
    assert extracted.text == "CLÁUSULA PRIMEIRA\nDo objeto & <preço>"
    assert extracted.page_count == 4


def test_docx_zip_bomb_is_refused_from_its_headers() -> None:
    with pytest.raises(SuspiciousArchive, match="inflate"):
        extract_text(files.zip_bomb_docx(64 * 1024 * 1024), LIMITS)


def test_docx_compression_ratio_is_limited() -> None:
    bomb = files.zip_bomb_docx(8 * 1024 * 1024)  # under the size cap, but ~1000:1
    with pytest.raises(SuspiciousArchive, match="compressed"):
        extract_text(bomb, LIMITS)


def test_docx_zip_bomb_lying_about_its_size_never_inflates_past_the_headers() -> None:
    bomb = files.zip_bomb_docx(64 * 1024 * 1024, lie_about_size=True)
    with pytest.raises(DocumentParseError):
        extract_text(bomb, LIMITS)


def test_docx_with_a_dtd_is_refused() -> None:
    document = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", document)
    with pytest.raises(SuspiciousArchive, match="forbidden XML"):
        extract_text(buffer.getvalue(), LIMITS)


def test_garbage_is_unsupported() -> None:
    with pytest.raises(UnsupportedDocument):
        extract_text(bytes(range(256)) * 8, LIMITS)


def test_analysis_combines_text_analysis_and_extraction_facts() -> None:
    text = "CONTRATO DE PRESTAÇÃO. CONTRATANTE: A. Cláusula primeira. CPF 529.982.247-25."
    analysis = build_analysis(ExtractedText(DocumentKind.PDF, text, 3), OcrOutcome(needed=False))
    assert analysis["doc_type"] == "contrato"
    assert analysis["page_count"] == 3
    assert analysis["text_length"] == len(text)
    assert analysis["source_type"] == "application/pdf"
    assert [e["type"] for e in analysis["entities"]] == ["cpf"]
    assert analysis["ocr_needed"] is False


def test_analysis_says_ocr_is_still_needed_when_it_was_not_available() -> None:
    analysis = build_analysis(
        ExtractedText(DocumentKind.PDF, "", 1, needs_ocr=True),
        OcrOutcome(needed=True, available=False),
    )
    assert analysis["ocr_needed"] is True
    assert analysis["ocr"] == {
        "needed": True, "applied": False, "available": False, "language": None, "pages": 0,
    }  # fmt: skip


def test_truncated_docx_is_sniffed_as_docx_but_unreadable() -> None:
    data = files.docx(["um parágrafo"])
    cut = data[: len(data) // 2]
    assert sniff(cut) is DocumentKind.DOCX
    with pytest.raises(DocumentParseError) as caught:
        extract_text(cut, LIMITS)
    assert caught.value.code == "unreadable_document"
