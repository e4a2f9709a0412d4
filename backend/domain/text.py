"""Portuguese text handling for rule matching: normalisation, tokens, light stemming, negation.

Tokens keep their offsets in the original text so that matches can be quoted verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_SPACE_RE = re.compile(r"\s+")
# A negator does not reach across these: "não tenho renda. Fui preso" negates nothing in clause 2.
_CLAUSE_BREAK_RE = re.compile(r"[.;:!?,()\n]")
_CLAUSE_BREAK_WORDS = frozenset({"mas", "porem", "contudo", "entretanto", "todavia", "pois"})

NEGATORS = frozenset(
    {"nao", "naum", "n", "nem", "sem", "nunca", "jamais", "nenhum", "nenhuma", "ninguem"}
)
NEGATION_WINDOW = 3

# (suffix, replacement), tried in order; the first that leaves a stem of >= 3 letters wins.
_PLURAL_RULES: tuple[tuple[str, str], ...] = (
    ("oes", "ao"),
    ("aes", "ao"),
    ("ais", "al"),
    ("eis", "el"),
    ("ois", "ol"),
    ("ns", "m"),
    ("res", "r"),
    ("zes", "z"),
    ("s", ""),
)
_SUFFIX_RULES: tuple[tuple[str, str], ...] = (
    # Nouns built on a verb stem fold back to it: demissão ~ demitir, urgência ~ urgente.
    ("issao", "it"),
    ("encia", "ent"),
    ("ancia", "ant"),
    ("acao", ""),
    ("icao", ""),
    ("aram", ""),
    ("eram", ""),
    ("iram", ""),
    ("avam", ""),
    ("ando", ""),
    ("endo", ""),
    ("indo", ""),
    ("ado", ""),
    ("ada", ""),
    ("ido", ""),
    ("ida", ""),
    ("ava", ""),
    ("ar", ""),
    ("er", ""),
    ("ir", ""),
    ("ou", ""),
    ("eu", ""),
    ("iu", ""),
    # "-ão" is a noun ending, not a gender one: keep "prisao" apart from "prisa".
    ("ao", "ao"),
    ("am", ""),
    ("em", ""),
    ("a", ""),
    ("o", ""),
    ("e", ""),
)
_MIN_STEM = 3


@dataclass(frozen=True, slots=True)
class Token:
    """One word: its surface form, normalised form, stem, offsets and clause number."""

    text: str
    norm: str
    stem: str
    start: int
    end: int
    clause: int


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    """Where a phrase matched: token indices [first, last] and character offsets [start, end)."""

    first: int
    last: int
    start: int
    end: int
    negated: bool


def strip_accents(text: str) -> str:
    """Remove diacritics ("ação" → "acao"), keeping one output character per base letter."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise(text: str) -> str:
    """Lowercase, strip accents and collapse whitespace."""
    return _SPACE_RE.sub(" ", strip_accents(text.casefold())).strip()


def _replace_suffix(word: str, rules: Sequence[tuple[str, str]]) -> str:
    for suffix, replacement in rules:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)] + replacement
    return word


def stem(word: str) -> str:
    """Fold inflection of a Portuguese word so that related forms compare equal.

    Deliberately light (plural, gender, common verb endings, a few noun suffixes):
    demitido, demitida, demissão and demitiram all become "demit".
    """
    folded = normalise(word)
    if len(folded) <= _MIN_STEM:
        return folded
    if folded.endswith("mente") and len(folded) - 5 >= _MIN_STEM:
        folded = folded[:-5]
    folded = _replace_suffix(folded, _PLURAL_RULES)
    return _replace_suffix(folded, _SUFFIX_RULES)


def words(text: str) -> list[str]:
    """The normal form of each word, as `tokenize` gives it (`Token.norm`), without offsets,
    stems or clauses: what counting words over a whole document needs. The text is
    normalised once, not word by word (the same words, unless the text holds accents already
    decomposed, which a word-by-word split would cut)."""
    return _WORD_RE.findall(normalise(text))


def tokenize(text: str) -> list[Token]:
    """Split text into word tokens with offsets, normal form, stem and clause number."""
    tokens: list[Token] = []
    clause = 0
    previous_end = 0
    for match in _WORD_RE.finditer(text):
        if _CLAUSE_BREAK_RE.search(text, previous_end, match.start()):
            clause += 1
        norm = normalise(match.group())
        if norm in _CLAUSE_BREAK_WORDS:
            clause += 1
        tokens.append(Token(match.group(), norm, stem(norm), match.start(), match.end(), clause))
        previous_end = match.end()
    return tokens


def is_negated(tokens: Sequence[Token], index: int, window: int = NEGATION_WINDOW) -> bool:
    """True if a negator precedes tokens[index] within `window` tokens of the same clause."""
    clause = tokens[index].clause
    for back in range(index - 1, max(-1, index - window - 1), -1):
        if tokens[back].clause != clause:
            return False
        if tokens[back].norm in NEGATORS:
            return True
    return False


def compile_phrase(phrase: str) -> tuple[str, ...]:
    """Turn a cue phrase into match terms: a stem each, a normalised prefix ending in "*", or
    an exact normalised word starting with "=" (for short words whose stem collides: "=iss"
    must not match "isso")."""
    terms: list[str] = []
    for raw in phrase.split():
        if raw.endswith("*"):
            terms.append(normalise(raw[:-1]) + "*")
        elif raw.startswith("="):
            terms.append("=" + normalise(raw[1:]))
        else:
            terms.append(stem(raw))
    return tuple(terms)


def _term_matches(term: str, token: Token) -> bool:
    if term.endswith("*"):
        return token.norm.startswith(term[:-1])
    if term.startswith("="):
        return token.norm == term[1:]
    return token.stem == term


class TokenIndex:
    """Where each stem and each normal form occurs in a token list, so that matching many
    phrases against one text looks up the positions of each phrase's first word instead of
    testing every token."""

    __slots__ = ("_by_norm", "_by_stem")

    def __init__(self, tokens: Sequence[Token]) -> None:
        self._by_stem: dict[str, list[int]] = {}
        self._by_norm: dict[str, list[int]] = {}
        for i, token in enumerate(tokens):
            self._by_stem.setdefault(token.stem, []).append(i)
            self._by_norm.setdefault(token.norm, []).append(i)

    def positions(self, term: str) -> list[int]:
        """Token positions matching one compiled term, in order."""
        if term.endswith("*"):
            prefix = term[:-1]
            found = [i for norm, at in self._by_norm.items() if norm.startswith(prefix) for i in at]
            return sorted(found)
        if term.startswith("="):
            return self._by_norm.get(term[1:], [])
        return self._by_stem.get(term, [])


def find_phrase(
    tokens: Sequence[Token], terms: Sequence[str], index: TokenIndex | None = None
) -> list[PhraseMatch]:
    """All places where the terms match consecutive tokens of one clause, with negation flag.

    With an `index` of the same tokens, only the positions of the first term are tried.
    """
    matches: list[PhraseMatch] = []
    size = len(terms)
    if size == 0:
        return matches
    head = terms[0]
    starts = index.positions(head) if index is not None else range(len(tokens))
    for first in starts:
        if first > len(tokens) - size:
            break
        # Cheap test of the first word before looking at the whole window: most positions fail.
        if index is None and not _term_matches(head, tokens[first]):
            continue
        window = tokens[first : first + size]
        if window[0].clause != window[-1].clause:
            continue
        if all(_term_matches(term, token) for term, token in zip(terms, window, strict=True)):
            matches.append(
                PhraseMatch(
                    first=first,
                    last=first + size - 1,
                    start=window[0].start,
                    end=window[-1].end,
                    negated=is_negated(tokens, first),
                )
            )
    return matches


def quote_around(text: str, tokens: Sequence[Token], match: PhraseMatch, context: int = 3) -> str:
    """The matched words plus a few neighbours of the same clause, verbatim from the text."""
    clause = tokens[match.first].clause
    first = match.first
    while first > 0 and match.first - first < context and tokens[first - 1].clause == clause:
        first -= 1
    last = match.last
    while (
        last < len(tokens) - 1 and last - match.last < context and tokens[last + 1].clause == clause
    ):
        last += 1
    return _SPACE_RE.sub(" ", text[tokens[first].start : tokens[last].end])
