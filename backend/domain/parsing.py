"""Text extraction from uploaded documents: type sniffing from content, PDF, DOCX and plain text.

Pure code over bytes. It guards against hostile files it can recognise (too many pages, zip
bombs, XML entity tricks), but it is meant to run in a child process under CPU, memory and
wall-clock limits (backend.adapters.parser_process), which catch whatever it cannot.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any, Protocol

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from backend.domain.documents import analyse_text


class DocumentKind(StrEnum):
    """What a file really is, as a MIME type."""

    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    TXT = "text/plain"


class DocumentParseError(Exception):
    """A document that cannot be read: the code says why, the message says it for people."""

    code = "unreadable_document"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedDocument(DocumentParseError):
    code = "unsupported_type"


class TooManyPages(DocumentParseError):
    code = "too_many_pages"


class SuspiciousArchive(DocumentParseError):
    code = "suspicious_archive"


class EncryptedDocument(DocumentParseError):
    code = "encrypted_document"


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_pages: int = 500
    max_text_chars: int = 2_000_000
    docx_max_uncompressed_bytes: int = 50 * 1024 * 1024
    docx_max_ratio: float = 100.0


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """The text of a document. `needs_ocr`: a PDF whose pages carry (almost) no text layer."""

    kind: DocumentKind
    text: str
    page_count: int | None
    truncated: bool = False
    needs_ocr: bool = False


# --- sniffing -------------------------------------------------------------------------------

_PDF_HEADER_WINDOW = 1024  # readers accept the header anywhere in the first KiB
_DOCX_MAIN_PART = "word/document.xml"
_TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Legitimate text files carry the odd stray control character; binary data carries many.
_MAX_CONTROL_RATIO = 0.001


def sniff(data: bytes) -> DocumentKind | None:
    """The kind of a file from its bytes (never its name), or None if it is none we read."""
    if b"%PDF-" in data[:_PDF_HEADER_WINDOW]:
        return DocumentKind.PDF
    if data.startswith(b"PK\x03\x04"):
        # The part's name stands in the zip's headers. Looking for it, rather than opening the
        # archive, costs the API nothing on a hostile zip; the parser checks the rest.
        return DocumentKind.DOCX if _DOCX_MAIN_PART.encode() in data else None
    return DocumentKind.TXT if decode_text(data) is not None else None


def decode_text(data: bytes) -> str | None:
    """Plain text as UTF-8, else Windows-1252/Latin-1 (old Brazilian files); None if binary."""
    if not data or b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    if len(_TEXT_CONTROL_RE.findall(text)) > len(text) * _MAX_CONTROL_RATIO:
        return None
    return text


# --- extraction -----------------------------------------------------------------------------


def extract_text(data: bytes, limits: ParseLimits) -> ExtractedText:
    """The text of a PDF, DOCX or plain-text file. Raises DocumentParseError subclasses."""
    kind = sniff(data)
    if kind is DocumentKind.PDF:
        return _extract_pdf(data, limits)
    if kind is DocumentKind.DOCX:
        return _extract_docx(data, limits)
    if kind is DocumentKind.TXT:
        text = decode_text(data) or ""
        capped = text[: limits.max_text_chars]
        return ExtractedText(kind, capped, None, truncated=len(capped) < len(text))
    raise UnsupportedDocument("not a PDF, DOCX or plain-text file")


class _TextBuffer:
    """Collects text up to a character cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def add(self, text: str) -> bool:
        """Append; False once the cap is reached (the rest is dropped)."""
        room = self.cap - self.size
        if len(text) > room:
            text = text[:room]
            self.truncated = True
        self.parts.append(text)
        self.size += len(text)
        return not self.truncated

    def text(self) -> str:
        return "".join(self.parts)


# Pages with fewer visible characters than this, on average, have no usable text layer.
_MIN_CHARS_PER_PAGE = 10


def _extract_pdf(data: bytes, limits: ParseLimits) -> ExtractedText:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise EncryptedDocument("the PDF is password-protected")
        # The declared count is cheap to read; a page tree that understates it is caught
        # by the real count below, which walks the tree (pypdf refuses cyclic references).
        declared = _declared_page_count(reader)
        if declared is not None and declared > limits.max_pages:
            raise _too_many_pages(declared, limits)
        page_count = len(reader.pages)
        if page_count > limits.max_pages:
            raise _too_many_pages(page_count, limits)
        buffer = _TextBuffer(limits.max_text_chars)
        for index, page in enumerate(reader.pages):
            if index and not buffer.add("\n\n"):
                break
            if not buffer.add(page.extract_text() or ""):
                break
    except DocumentParseError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        # pypdf reports malformed input with many exception types (its own, ValueError,
        # KeyError, RecursionError, zlib.error...): all mean the same to us.
        raise DocumentParseError(f"the PDF could not be read ({type(exc).__name__})") from exc
    text = buffer.text()
    visible = len("".join(text.split()))
    return ExtractedText(
        DocumentKind.PDF,
        text,
        page_count,
        truncated=buffer.truncated,
        needs_ocr=page_count > 0 and visible < _MIN_CHARS_PER_PAGE * page_count,
    )


def _declared_page_count(reader: Any) -> int | None:
    try:
        count = reader.trailer["/Root"]["/Pages"].get("/Count")
        return int(count) if count is not None else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _too_many_pages(pages: int, limits: ParseLimits) -> TooManyPages:
    return TooManyPages(f"the PDF has {pages} pages; at most {limits.max_pages} are accepted")


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Below this size the compression ratio says nothing: small XML parts compress very well.
_RATIO_CHECK_MIN_BYTES = 1024 * 1024
_APP_PROPERTIES = "docProps/app.xml"
_APP_PROPERTIES_MAX_BYTES = 256 * 1024


def _extract_docx(data: bytes, limits: ParseLimits) -> ExtractedText:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(_DOCX_MAIN_PART)
            _check_entry(info, limits)
            with archive.open(info) as raw:
                capped = _CappedReader(raw, limits.docx_max_uncompressed_bytes)
                text, truncated = _docx_body_text(capped, limits.max_text_chars)
            page_count = _docx_page_count(archive)
    except DocumentParseError:
        raise
    except DefusedXmlException as exc:
        raise SuspiciousArchive(f"the DOCX uses forbidden XML ({type(exc).__name__})") from exc
    except (zipfile.BadZipFile, KeyError, EOFError, OSError, SyntaxError, ValueError) as exc:
        # ElementTree's ParseError is a SyntaxError; a bad CRC is BadZipFile.
        raise DocumentParseError(f"the DOCX could not be read ({type(exc).__name__})") from exc
    return ExtractedText(DocumentKind.DOCX, text, page_count, truncated=truncated)


def _check_entry(info: zipfile.ZipInfo, limits: ParseLimits) -> None:
    """Refuse a zip bomb from its headers, before inflating anything."""
    if info.file_size > limits.docx_max_uncompressed_bytes:
        raise SuspiciousArchive(
            f"the DOCX body would inflate to {info.file_size} bytes; "
            f"at most {limits.docx_max_uncompressed_bytes} are accepted"
        )
    if info.file_size >= _RATIO_CHECK_MIN_BYTES and info.file_size > limits.docx_max_ratio * max(
        1, info.compress_size
    ):
        raise SuspiciousArchive(
            f"the DOCX body is compressed {info.file_size // max(1, info.compress_size)}:1; "
            f"at most {limits.docx_max_ratio:g}:1 is accepted"
        )


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _CappedReader(io.RawIOBase):
    """Reads from an inflating stream and stops a zip bomb whose headers lie about its size."""

    def __init__(self, inner: IO[bytes], cap: int) -> None:
        self.inner = inner
        self.cap = cap
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.inner.read(64 * 1024 if size is None or size < 0 else size)
        self.consumed += len(chunk)
        if self.consumed > self.cap:
            raise SuspiciousArchive(
                f"the DOCX body inflates past {self.cap} bytes (more than its headers declare)"
            )
        return chunk


def _docx_body_text(source: _Readable, max_chars: int) -> tuple[str, bool]:
    """Paragraph text of word/document.xml, streamed (never a whole tree in memory)."""
    buffer = _TextBuffer(max_chars)
    for element in _end_elements(source):
        tag = element.tag
        if tag == f"{_W}t":
            keep = buffer.add(element.text or "")
        elif tag == f"{_W}tab":
            keep = buffer.add("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            keep = buffer.add("\n")
        elif tag == f"{_W}p":
            keep = buffer.add("\n")
            element.clear()
        else:
            continue
        if not keep:
            break
    return buffer.text().strip("\n"), buffer.truncated


def _end_elements(source: _Readable) -> Iterator[Any]:
    # forbid_dtd: a DOCX never needs a DTD, and entities are how XML bombs work.
    for _event, element in iterparse(source, events=("end",), forbid_dtd=True):
        yield element


def _docx_page_count(archive: zipfile.ZipFile) -> int | None:
    """The page count Word saved in docProps/app.xml, if any (a hint: Word computes it)."""
    try:
        info = archive.getinfo(_APP_PROPERTIES)
    except KeyError:
        return None
    if info.file_size > _APP_PROPERTIES_MAX_BYTES:
        return None
    with archive.open(info) as raw:
        for element in _end_elements(_CappedReader(raw, _APP_PROPERTIES_MAX_BYTES)):
            if element.tag.endswith("}Pages") and (element.text or "").strip().isdigit():
                return int(element.text.strip())
    return None


# --- analysis -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OcrOutcome:
    """What OCR did for a document: `needed` (no text layer), `applied` (text came from it)."""

    needed: bool = False
    applied: bool = False
    available: bool = False
    language: str | None = None
    pages: int = 0


def build_analysis(extracted: ExtractedText, ocr: OcrOutcome) -> dict[str, Any]:
    """The stored analysis of a document: the text analysis plus what extraction found."""
    analysis: dict[str, Any] = dict(analyse_text(extracted.text).to_dict())
    analysis.update(
        source_type=extracted.kind.value,
        text_length=len(extracted.text),
        page_count=extracted.page_count,
        truncated=extracted.truncated,
        # Still needed: no text layer and OCR could not supply one.
        ocr_needed=ocr.needed and not ocr.applied,
        ocr_applied=ocr.applied,
        ocr={
            "needed": ocr.needed,
            "applied": ocr.applied,
            "available": ocr.available,
            "language": ocr.language,
            "pages": ocr.pages,
        },
    )
    return analysis
