"""Small PDF and DOCX files made in the tests: well-formed ones and hostile ones.

PDFs are written by hand (a few objects and an xref table) so every byte is under the test's
control; DOCX files are zip archives with the one part a reader needs.
"""

from __future__ import annotations

import io
import zipfile
import zlib


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF whose object n (1-based) is objects[n - 1]; object 1 must be the catalog."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_pdf(pages: list[str]) -> bytes:
    """A PDF with one page per string, each drawn in Helvetica (WinAnsi: accents work)."""
    count = len(pages)
    # 1 catalog, 2 page tree, 3 font, then (page, content) pairs.
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, text in enumerate(pages):
        lines = [b"BT /F1 11 Tf 50 780 Td 14 TL"]
        lines += [_pdf_string(line) + b" '" for line in text.splitlines() or [""]]
        lines.append(b"ET")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(_stream(b"\n".join(lines)))
    return _pdf(objects)


def blank_pdf(pages: int = 1) -> bytes:
    """A PDF whose pages draw nothing: no text layer (a scan would look like this to a parser)."""
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * pages
    return _pdf(objects)


def many_pages_pdf(pages: int) -> bytes:
    """`pages` pages sharing one content stream: 10,000 pages fit in about 700 KB."""
    return _many_pages(pages, declared=pages)


def understated_pages_pdf(pages: int) -> bytes:
    """Many real pages behind a page tree that claims to hold one."""
    return _many_pages(pages, declared=1)


def _many_pages(pages: int, *, declared: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % declared,
        _stream(b"BT /F1 11 Tf 50 780 Td (pagina) Tj ET"),
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * pages
    return _pdf(objects)


def looping_pdf() -> bytes:
    """A page tree whose node lists itself among its kids: a naive walk never ends."""
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Pages /Kids [2 0 R] /Parent 2 0 R /Count 1 >>",
        ]
    )


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def docx(paragraphs: list[str], *, pages: int | None = None) -> bytes:
    """A minimal DOCX: one w:p per paragraph; `pages` goes to docProps/app.xml if given."""
    body = "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{_xml_escape(p)}</w:t></w:r></w:p>'
        for p in paragraphs
    )
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("word/document.xml", document)
        if pages is not None:
            archive.writestr(
                "docProps/app.xml",
                '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
                f'extended-properties"><Pages>{pages}</Pages></Properties>',
            )
    return buffer.getvalue()


def zip_bomb_docx(uncompressed_bytes: int = 1024**3, *, lie_about_size: bool = False) -> bytes:
    """A DOCX whose document.xml inflates to `uncompressed_bytes` of spaces.

    With `lie_about_size`, the zip headers declare a small size, so only a reader that caps
    what it inflates (rather than trusting the headers) notices.
    """
    chunk = b" " * (1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = f'<w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>'.encode()
    parts = [compressor.compress(head)]
    crc = zlib.crc32(head)
    written = len(head)
    while written < uncompressed_bytes:
        piece = chunk[: uncompressed_bytes - written]
        parts.append(compressor.compress(piece))
        crc = zlib.crc32(piece, crc)
        written += len(piece)
    parts.append(compressor.flush())
    compressed = b"".join(parts)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        info = zipfile.ZipInfo("word/document.xml")
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, b"placeholder")
    data = buffer.getvalue()
    # Swap the placeholder entry for the bomb by rebuilding it with raw deflate data.
    return _replace_entry(
        data,
        "word/document.xml",
        compressed,
        crc=crc,
        size=1000 if lie_about_size else written,
    )


def _replace_entry(data: bytes, name: str, compressed: bytes, *, crc: int, size: int) -> bytes:
    """Rewrite a zip with entry `name` holding raw deflate `compressed` and the given headers."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    central = []
    for info in source.infolist():
        if info.filename == name:
            payload, entry_crc, entry_size = compressed, crc, size
        else:
            with source.open(info) as handle:
                raw = handle.read()
            entry_crc, entry_size = zlib.crc32(raw), len(raw)
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = compressor.compress(raw) + compressor.flush()
        encoded = info.filename.encode()
        offset = out.tell()
        out.write(
            b"PK\x03\x04"
            + (20).to_bytes(2, "little")  # version needed
            + (0).to_bytes(2, "little")  # flags
            + (8).to_bytes(2, "little")  # deflate
            + (0).to_bytes(4, "little")  # time, date
            + entry_crc.to_bytes(4, "little")
            + min(len(payload), 0xFFFFFFFF).to_bytes(4, "little")
            + min(entry_size, 0xFFFFFFFF).to_bytes(4, "little")
            + len(encoded).to_bytes(2, "little")
            + (0).to_bytes(2, "little")
            + encoded
        )
        out.write(payload)
        central.append(
            b"PK\x01\x02"
            + (20).to_bytes(2, "little")  # made by
            + (20).to_bytes(2, "little")
            + (0).to_bytes(2, "little")
            + (8).to_bytes(2, "little")
            + (0).to_bytes(4, "little")
            + entry_crc.to_bytes(4, "little")
            + min(len(payload), 0xFFFFFFFF).to_bytes(4, "little")
            + min(entry_size, 0xFFFFFFFF).to_bytes(4, "little")
            + len(encoded).to_bytes(2, "little")
            + (0).to_bytes(2, "little") * 3  # extra, comment, disk
            + (0).to_bytes(2, "little")  # internal attrs
            + (0).to_bytes(4, "little")  # external attrs
            + offset.to_bytes(4, "little")
            + encoded
        )
    directory_offset = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(
        b"PK\x05\x06"
        + (0).to_bytes(2, "little") * 2
        + len(central).to_bytes(2, "little") * 2
        + len(directory).to_bytes(4, "little")
        + directory_offset.to_bytes(4, "little")
        + (0).to_bytes(2, "little")
    )
    return out.getvalue()
