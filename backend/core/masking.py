"""Personal data masked out of text and nested values: CPF, CNPJ, RG, CNJ case numbers, e-mail
addresses and phone numbers, in their usual spellings. Used by the logs (every string value of
every event, nested fields included), the dead-letter store and the API's dead-letter view.

Precision matters as much as recall (tested on a corpus of both, tests/unit/core): a bare digit
run is masked only when its check digits say it is a CPF, CNPJ or CNJ number, an e-mail needs
a public top-level domain (`worker@node1.prod` is a host), and a phone needs the shape of one
(separators, an area code in parentheses, +55, or a mobile's 11 digits), so byte counts, epoch
times, UUIDs and temporary paths pass untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["mask_value", "scrub"]

# Top-level domains an address may end with (a host name like node1.prod or x.local is not one).
_TLDS = (
    "com|br|org|net|gov|edu|mil|int|info|biz|name|pro|io|co|me|app|dev|email|online|site|xyz|"
    "tech|adv|jus|uk|us|de|pt|es|fr|it|ar|mx|cl|uy|py|pe|bo|ve|ec|ca|au|nz|jp|cn|in|ru|nl|be|"
    "ch|at|se|no|dk|fi|ie|pl|cz|eu|tv|cc|ai|gg|ly|to"
)
_EMAIL = re.compile(
    rf"(?<![\w.+-])[\w.+-]{{1,64}}@(?:[a-z0-9-]{{1,63}}\.)+(?:{_TLDS})\b(?![.-]?\w)", re.I
)
_EMAIL_SPELLED = re.compile(
    rf"\b[\w.+-]{{1,64}}\s*(?:\[at\]|\(at\)|\s+at\s+|\s+arroba\s+)\s*[\w-]{{1,63}}"
    rf"(?:\s*(?:\[dot\]|\(dot\)|\.|\s+dot\s+|\s+ponto\s+)\s*[\w-]{{1,63}})*"
    rf"\s*(?:\[dot\]|\(dot\)|\.|\s+dot\s+|\s+ponto\s+)\s*(?:{_TLDS})\b",
    re.I,
)
_NB = r"(?<![\w./-])"  # not glued to a word, a path or another number
_NA = r"(?![\w/]|[.-]\d)"
_CPF_FORMATTED = re.compile(rf"{_NB}\d{{3}}[.\s]\d{{3}}[.\s]\d{{3}}[-\s]\d{{2}}{_NA}")
_CNPJ_FORMATTED = re.compile(
    rf"{_NB}\d{{2}}[.\s]?\d{{3}}[.\s]?\d{{3}}\s?/\s?\d{{4}}[-\s]?\d{{2}}{_NA}"
)
_CNJ_FORMATTED = re.compile(rf"{_NB}\d{{7}}-\d{{2}}\.\d{{4}}\.\d\.\d{{2}}\.\d{{4}}{_NA}")
_RG_FORMATTED = re.compile(
    rf"{_NB}(?:[A-Z]{{2}}[-\s])?\d{{1,2}}\.\d{{3}}\.\d{{3}}[-\s]?[\dXx]{_NA}"
)
_RG_LABELLED = re.compile(
    r"\bRG\b\s*(?:n[ºo°.]?\s*)?[:#]?\s*(?:[A-Z]{2}[-\s]?)?\d[\d.\s-]{4,12}[\dXx]\b", re.I
)
_BARE = re.compile(rf"{_NB}\d{{11}}(?:\d{{3}})?(?:\d{{6}})?{_NA}")
_PHONE = re.compile(
    rf"{_NB}(?:\+\s?55[\s.-]?)?(?:\(\s?\d{{2}}\s?\)\s?|\d{{2}}[\s.-])9?\d{{4}}[\s.-]?\d{{4}}{_NA}"
    rf"|(?<![\w./-])\+\s?55\s?\d{{2}}\s?9?\d{{4}}[\s.-]?\d{{4}}{_NA}"
    rf"|{_NB}9\d{{4}}-\d{{4}}{_NA}"
)


def _cpf_ok(d: str) -> bool:
    if len(set(d)) == 1:
        return False
    for n in (9, 10):
        total = sum(int(d[i]) * (n + 1 - i) for i in range(n))
        if (total * 10 % 11) % 10 != int(d[n]):
            return False
    return True


def _cnpj_ok(d: str) -> bool:
    if len(set(d)) == 1:
        return False
    weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for n in (12, 13):
        total = sum(int(d[i]) * weights[i + 13 - n] for i in range(n))
        check = 11 - total % 11
        if (0 if check >= 10 else check) != int(d[n]):
            return False
    return True


def _cnj_ok(d: str) -> bool:
    # NNNNNNN DD AAAA J TR OOOO: DD = 98 - (N AAAA J TR OOOO 00 mod 97)
    number, check, rest = d[:7], d[7:9], d[9:]
    return 98 - int(number + rest + "00") % 97 == int(check)


def _mobile(d: str) -> bool:
    return len(d) == 11 and d[2] == "9" and d[0] != "0"


def _bare(match: re.Match[str]) -> str:
    d = match.group(0)
    if len(d) == 11 and _cpf_ok(d):
        return "<cpf>"
    if len(d) == 11 and _mobile(d):
        return "<phone>"
    if len(d) == 14 and _cnpj_ok(d):
        return "<cnpj>"
    if len(d) == 20 and _cnj_ok(d):
        return "<cnj>"
    return d


_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (_EMAIL, "<email>"),
    (_EMAIL_SPELLED, "<email>"),
    (_CNJ_FORMATTED, "<cnj>"),
    (_CNPJ_FORMATTED, "<cnpj>"),
    (_CPF_FORMATTED, "<cpf>"),
    (_RG_LABELLED, "<rg>"),
    (_RG_FORMATTED, "<rg>"),
    (_BARE, _bare),
    (_PHONE, "<phone>"),
]


def scrub(text: str) -> str:
    """`text` with every personal identifier replaced by its kind (`<cpf>`, `<email>` ...)."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def mask_value(value: Any, _depth: int = 0) -> Any:
    """`scrub` applied to every string in a nested structure (dicts, lists, tuples)."""
    if isinstance(value, str):
        return scrub(value)
    if _depth > 20:
        return value
    if isinstance(value, Mapping):
        return {k: mask_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v, _depth + 1) for v in value]
    return value
