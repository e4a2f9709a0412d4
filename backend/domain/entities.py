"""Extraction of Brazilian legal entities (CPF, CNPJ, CNJ number, OAB, dates, money, contacts).

Only well-formed values are reported: check digits and calendar dates are validated.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal

from validate_docbr import CNPJ, CPF

from backend.domain.text import normalise


@dataclass(frozen=True, slots=True)
class Entity:
    """A value found in a text; `value` is normalised, [start, end) are offsets in the text."""

    type: str
    value: str
    start: int
    end: int

    def to_dict(self) -> dict[str, str | int]:
        return asdict(self)


_UFS = frozenset(
    {"AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA"}
    | {"PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO"}
)
_MONTHS = {
    "janeiro": 1,
    "fevereiro": 2,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
}
# Brazilian area codes in use (Anatel); a number with any other prefix is not a phone.
_DDDS = frozenset(
    {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38}
    | {41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68}
    | {69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95}
    | {96, 97, 98, 99}
)

_D = r"(?<![\d.,/-])"  # no digit glued on the left
_E = r"(?![\d]|[.,/-]\d)"  # nor on the right (a trailing full stop is fine)

_CNJ_RE = re.compile(_D + r"(\d{7})-?(\d{2})\.?(\d{4})\.?(\d)\.?(\d{2})\.?(\d{4})" + _E)
_CNPJ_RE = re.compile(_D + r"\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}" + _E)
_CPF_MASKED_RE = re.compile(_D + r"\d{3}\.\d{3}\.\d{3}-\d{2}" + _E)
_CPF_BARE_RE = re.compile(_D + r"\d{11}" + _E)
_CPF_LABEL_RE = re.compile(r"\bcpf\b\D{0,10}$", re.IGNORECASE)
_OAB_UF_FIRST_RE = re.compile(
    r"\bOAB\s*[/-]?\s*([A-Z]{2})\s*(?:n[ºo°.]*\s*)?(\d{1,3}(?:\.\d{3})+|\d{2,7})\b", re.IGNORECASE
)
_OAB_NUMBER_FIRST_RE = re.compile(
    r"\bOAB\s*(?:n[ºo°.]*\s*)?(\d{1,3}(?:\.\d{3})+|\d{2,7})\s*[/-]\s*([A-Z]{2})\b", re.IGNORECASE
)
_DATE_NUMERIC_RE = re.compile(_D + r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})" + _E)
_DATE_WRITTEN_RE = re.compile(
    r"\b(\d{1,2})(?:º|°|o)?\s+de\s+([A-Za-zçÇ]+)\s+de\s+(\d{4})\b", re.IGNORECASE
)
_MONEY_RE = re.compile(
    r"R\$\s*(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{1,2}))?(?:\s+(mil|milh[õo]es|milh[ãa]o)\b)?",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE_RE = re.compile(
    r"(?<![\w])(?:\+?55[\s.-]?)?\(?(\d{2})\)?[\s.-]?(9[\s.]?\d{4}|[2-5]\d{3})[\s.-]?(\d{4})"
    r"(?![\d]|[.-]\d)"
)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def cnj_check_digits(sequence: str, year: str, segment: str, court: str, origin: str) -> str:
    """The two check digits of a CNJ process number (Resolução CNJ 65/2008, ISO 7064 mod 97-10).

    validate-docbr has no CNJ validator, hence our own.
    """
    remainder = int(f"{sequence}{year}{segment}{court}{origin}00") % 97
    return f"{98 - remainder:02d}"


def _cnj(text: str) -> Iterator[Entity]:
    for m in _CNJ_RE.finditer(text):
        sequence, check, year, segment, court, origin = m.groups()
        if cnj_check_digits(sequence, year, segment, court, origin) == check:
            value = f"{sequence}-{check}.{year}.{segment}.{court}.{origin}"
            yield Entity("cnj", value, m.start(), m.end())


def _cnpj(text: str) -> Iterator[Entity]:
    validator = CNPJ()
    for m in _CNPJ_RE.finditer(text):
        if validator.validate(m.group()):
            yield Entity("cnpj", _digits(m.group()), m.start(), m.end())


def _cpf(text: str) -> Iterator[Entity]:
    validator = CPF()
    for m in _CPF_MASKED_RE.finditer(text):
        if validator.validate(m.group()):
            yield Entity("cpf", _digits(m.group()), m.start(), m.end())
    # Eleven bare digits could as well be a phone number; only trust them next to "CPF".
    for m in _CPF_BARE_RE.finditer(text):
        labelled = _CPF_LABEL_RE.search(text[max(0, m.start() - 20) : m.start()])
        if labelled and validator.validate(m.group()):
            yield Entity("cpf", m.group(), m.start(), m.end())


def _oab(text: str) -> Iterator[Entity]:
    found = [(m, m.group(1), m.group(2)) for m in _OAB_UF_FIRST_RE.finditer(text)]
    found += [(m, m.group(2), m.group(1)) for m in _OAB_NUMBER_FIRST_RE.finditer(text)]
    for m, uf, number in found:
        if uf.upper() in _UFS:
            yield Entity("oab", f"{_digits(number)}/{uf.upper()}", m.start(), m.end())


def _iso_date(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _dates(text: str) -> Iterator[Entity]:
    for m in _DATE_NUMERIC_RE.finditer(text):
        day, month, year = (int(g) for g in m.groups())
        iso = _iso_date(year, month, day)
        if iso:
            yield Entity("date", iso, m.start(), m.end())
    for m in _DATE_WRITTEN_RE.finditer(text):
        month_number = _MONTHS.get(normalise(m.group(2)))
        if month_number is None:
            continue
        iso = _iso_date(int(m.group(3)), month_number, int(m.group(1)))
        if iso:
            yield Entity("date", iso, m.start(), m.end())


def _money(text: str) -> Iterator[Entity]:
    for m in _MONEY_RE.finditer(text):
        integer, cents, scale = m.groups()
        amount = Decimal(integer.replace(".", "")) + Decimal(f"0.{(cents or '0').ljust(2, '0')}")
        if scale:
            amount *= 1000 if scale.lower() == "mil" else 1_000_000
        yield Entity("money", f"{amount:.2f}", m.start(), m.end())


def _emails(text: str) -> Iterator[Entity]:
    for m in _EMAIL_RE.finditer(text):
        yield Entity("email", m.group().lower(), m.start(), m.end())


def _phones(text: str) -> Iterator[Entity]:
    for m in _PHONE_RE.finditer(text):
        ddd, prefix, suffix = m.groups()
        if int(ddd) in _DDDS:
            yield Entity("phone", ddd + _digits(prefix) + suffix, m.start(), m.end())


# Earlier extractors win where spans overlap (a CNJ number contains things that look like dates).
_EXTRACTORS: tuple[Callable[[str], Iterator[Entity]], ...] = (
    _cnj,
    _cnpj,
    _cpf,
    _oab,
    _emails,
    _money,
    _dates,
    _phones,
)


def extract_entities(text: str) -> list[Entity]:
    """All valid entities in the text, without overlaps, in order of position.

    An entity is kept unless it overlaps one kept before it. The kept spans never overlap, so
    held sorted by start only the neighbours of a new span's place need a look: a document
    with thousands of entities costs n log n, not n²."""
    starts: list[int] = []
    kept: list[Entity] = []  # sorted by start, like `starts`
    for extractor in _EXTRACTORS:
        for entity in extractor(text):
            at = bisect_right(starts, entity.start)
            if at > 0 and kept[at - 1].end > entity.start:
                continue
            if at < len(kept) and kept[at].start < entity.end:
                continue
            starts.insert(at, entity.start)
            kept.insert(at, entity)
    return kept
