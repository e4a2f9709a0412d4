"""Planted personal values and a byte search of everything the platform writes to disk."""

from __future__ import annotations

from pathlib import Path

CPF = "111.444.777-35"
EMAIL = "maria.plantada@example.org"
SENTENCE = "Joana Plantada tem epilepsia e sofreu violencia domestica em Sorocaba"


def needles(cpf: str = CPF, email: str = EMAIL, sentence: str = SENTENCE) -> dict[str, bytes]:
    digits = "".join(ch for ch in cpf if ch.isdigit())
    return {
        "cpf": cpf.encode(),
        "cpf_digits": digits.encode(),
        "email": email.encode(),
        "sentence": sentence.encode(),
        "sentence_part": sentence.split()[1].encode() + b" " + sentence.split()[2].encode(),
    }


def search(roots: list[Path], wanted: dict[str, bytes]) -> dict[str, list[str]]:
    """Which wanted values occur, as bytes, in which files under `roots` ({name: [paths]})."""
    found: dict[str, list[str]] = {}
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for name, needle in wanted.items():
                if needle in data or needle.lower() in data.lower():
                    found.setdefault(name, []).append(str(path))
    return found
