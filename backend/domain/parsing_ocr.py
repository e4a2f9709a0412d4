"""OCR of PDF pages without a text layer: `pdftoppm` renders them, `tesseract` reads them.

Both are optional system programs; without them (or without the language's traineddata)
`ocr_available` is False and the document is stored with `ocr_needed: true`.
Runs inside the parsing child process, so its limits cover these programs too.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class OcrSettings:
    language: str = "por"
    dpi: int = 200
    max_pages: int = 20
    # Per program call; the parent's wall-clock limit bounds the whole parse anyway.
    timeout_s: float = 60.0


def ocr_available(language: str, timeout_s: float = 10.0) -> bool:
    """True if tesseract (with `language`) and pdftoppm are installed."""
    tesseract = shutil.which("tesseract")
    if tesseract is None or shutil.which("pdftoppm") is None:
        return False
    try:
        listed = subprocess.run(
            [tesseract, "--list-langs"], capture_output=True, text=True, timeout=timeout_s
        )
    except (OSError, subprocess.SubprocessError):
        return False
    languages = set((listed.stdout + listed.stderr).split())
    return all(part in languages for part in language.split("+"))


def ocr_pdf(path: Path, settings: OcrSettings) -> tuple[str, int]:
    """Text of the first `max_pages` pages of a PDF by OCR, and how many pages were read."""
    pdftoppm, tesseract = shutil.which("pdftoppm"), shutil.which("tesseract")
    if pdftoppm is None or tesseract is None:
        raise FileNotFoundError("pdftoppm or tesseract is not installed")
    with tempfile.TemporaryDirectory(prefix="ocr-") as workdir:
        prefix = Path(workdir) / "page"
        subprocess.run(
            [pdftoppm, "-r", str(settings.dpi), "-gray", "-png",
             "-f", "1", "-l", str(settings.max_pages), str(path), str(prefix)],
            check=True, capture_output=True, timeout=settings.timeout_s,
        )  # fmt: skip
        images = sorted(Path(workdir).glob("page*.png"))
        texts = []
        for image in images:
            result = subprocess.run(
                [tesseract, str(image), "stdout", "-l", settings.language],
                check=True, capture_output=True, timeout=settings.timeout_s,
            )  # fmt: skip
            texts.append(result.stdout.decode("utf-8", errors="replace").strip())
    return "\n\n".join(texts), len(images)
