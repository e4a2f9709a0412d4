"""Masking of personal data in a text that leaves the platform (the LLM prompt).

What is masked, each by a placeholder the model can still read as what it stands for:

- CPF numbers (`[CPF]`): the well-formed ones the entity extractor validates, and anything
  written in the CPF pattern `ddd.ddd.ddd-dd` even with a wrong check digit (a typo of a real
  number still points at its holder);
- e-mail addresses (`[E-MAIL]`) and Brazilian phone numbers (`[TELEFONE]`), as the extractor
  finds them;
- people's names (`[NOME]`), by three simple rules that favour precision, so that courts,
  agencies and places (what triage reads) stay: a common given name followed by one or more
  capitalised words ("Joana Plantada", "Luciana Prates Meirelles", "Pedro Henrique"); the
  capitalised words after a form of address ("Dona Cida", "Sr. Almeida", "Dra. Luciana
  Prates"); the name after "me chamo" / "meu nome é". A given name alone ("meu filho João")
  is kept: it identifies nobody without a surname, and masking it would also hit places
  ("Vitória", "São Paulo"). After "São", "Santo", "Santa" or "em" a name is a place.

The masked text keeps everything else as it was, so the model's quotes of it still match.
"""

from __future__ import annotations

import re

from backend.domain.entities import extract_entities
from backend.domain.text import normalise

__all__ = ["PLACEHOLDERS", "mask_personal", "name_spans"]

PLACEHOLDERS = {"cpf": "[CPF]", "email": "[E-MAIL]", "phone": "[TELEFONE]", "name": "[NOME]"}

# Common Brazilian given names (IBGE's most frequent), without accents, lower case; not
# those that are also the names of big cities ("Vitória", "Natal").
_GIVEN_NAMES = frozenset(
    """
    adriana adriano alessandra alexandre aline amanda ana andre andrea andreia angela antonia
    antonio arthur barbara beatriz benedita benedito bernardo bruna bruno caio camila carla
    carlos carolina cecilia celia cesar claudia claudio cristiane cristina daniel daniela
    davi debora denise diego douglas eduarda eduardo elaine eliane elisa elizabete emanuel
    enzo fabiana fabio fabricio fatima felipe fernanda fernando flavia francisca francisco
    gabriel gabriela geraldo gilberto giovana guilherme gustavo helena heloisa henrique hugo
    igor isabel isabela isadora jaqueline jessica joana joao joaquim jorge jose josefa
    juliana julio julia karina kelly larissa laura leandro leonardo leticia lorena lucas
    lucia luciana luciano luis luisa luiz luiza manoel manuel marcela marcelo marcia marcio
    marcos marcus maria mariana marina mario marlene matheus mateus mauricio miguel monica
    murilo natalia nicolas otavio patricia paula paulo pedro priscila rafael rafaela raimunda
    raimundo raquel regina renata renato ricardo rita roberta roberto rodrigo rogerio rosa
    rosana rosangela samuel sandra sebastiana sebastiao sergio silvia simone sofia sonia
    tatiana tereza thiago tiago valeria vanessa vera vicente vinicius vitor viviane
    wagner washington wellington willian yasmin
    """.split()  # noqa: SIM905 - a word list reads best as words
)
# Capitalised words that start a sentence after "Dra." or "Sr." rather than name anyone.
_NOT_NAMES = frozenset(
    """
    acao agradeco amanha att atenciosamente boa bom caso como encaminho escrevo estou gostaria
    hoje meu minha obrigada obrigado ola ontem peco preciso processo quero segue sou tenho venho
    """.split()  # noqa: SIM905 - a word list reads best as words
)
_CAP = r"[A-ZÀ-ÖØ-Ý][a-zß-öø-ÿ]+"
_TITLES = r"(?:Dona|Seu|Sr|Sra|Srta|Dr|Dra|Senhora|Senhor)"
# A further word of a name: capitalised, not a form of address ("Sr. Jorge e Sra. Ana").
_MORE = rf"(?:[ \t]+(?:d[aeo]s?|e)(?=[ \t]+[A-ZÀ-ÖØ-Ý]))?[ \t]+(?!{_TITLES}\b){_CAP}"
# A capitalised word, then more, joined by spaces (never a line break) and connectors.
_NAME = rf"{_CAP}(?:{_MORE})*"
_GIVEN_RE = re.compile(rf"(?<![\w\-])({_CAP})((?:{_MORE})+)")
_ADDRESS_RE = re.compile(rf"(?<!\w){_TITLES}\.?[ \t]+({_NAME})")
_INTRO_RE = re.compile(rf"(?i:\bme[ \t]+chamo|\bmeu[ \t]+nome[ \t]+(?:é|e))[ \t]+({_NAME})")
_PLACE_BEFORE_RE = re.compile(r"(?:\bSão|\bSanto|\bSanta|\bem)[ \t]+$")
_CPF_SHAPE_RE = re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?!\d)")


def name_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of the people's names the three rules find, in order, not overlapping."""
    spans: list[tuple[int, int]] = []
    position = 0
    while (m := _GIVEN_RE.search(text, position)) is not None:
        if normalise(m.group(1)) in _GIVEN_NAMES and not _PLACE_BEFORE_RE.search(
            text[max(0, m.start() - 8) : m.start()]
        ):
            spans.append((m.start(), m.end()))
            position = m.end()
        else:  # "Demissão de Joana Silva": try again from the next word
            position = m.end(1)
    for pattern in (_ADDRESS_RE, _INTRO_RE):
        spans.extend(
            (m.start(1), m.end(1))
            for m in pattern.finditer(text)
            if normalise(m.group(1).split()[0]) not in _NOT_NAMES
        )
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mask_personal(text: str) -> str:
    """`text` with CPFs, e-mail addresses, phone numbers and people's names replaced by
    placeholders (see the module doc); the same text when it holds none."""
    spans: list[tuple[int, int, str]] = [
        (e.start, e.end, PLACEHOLDERS[e.type])
        for e in extract_entities(text)
        if e.type in ("cpf", "email", "phone")
    ]
    spans += [(m.start(), m.end(), PLACEHOLDERS["cpf"]) for m in _CPF_SHAPE_RE.finditer(text)]
    spans += [(start, end, PLACEHOLDERS["name"]) for start, end in name_spans(text)]
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for start, end, placeholder in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < position:  # overlaps one already masked: that placeholder covers it
            position = max(position, end)
            continue
        out.append(text[position:start])
        out.append(placeholder)
        position = end
    out.append(text[position:])
    return "".join(out)
