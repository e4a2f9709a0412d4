"""Document type recognition and basic analysis of a legal document's text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.domain.entities import Entity, extract_entities
from backend.domain.text import normalise
from backend.domain.text import words as text_words

DOCUMENT_TYPES = (
    "peticao_inicial",
    "contestacao",
    "sentenca",
    "acordao",
    "contrato",
    "procuracao",
    "boletim_ocorrencia",
    "laudo_medico",
    "comprovante",
    "outro",
)
# Below this best score the text is not recognisably any type.
_MIN_SCORE = 3.0

# Patterns run on normalised text (lowercase, no accents); each counts once per document.
_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "peticao_inicial": (
        (r"excelentissim[oa](\(a\))? senhor(\(a\))? doutor(\(a\))? juiz", 3.0),
        (r"peticao inicial", 4.0),
        (r"\brequer(em)?\b", 2.0),
        (r"\bvem,? (respeitosamente,? )?(a presenca de vossa excelencia,? )?propor\b", 3.0),
        (r"\bdos pedidos\b", 2.0),
        (r"valor da causa|da-se a causa", 3.0),
    ),
    "contestacao": (
        (r"\bcontestacao\b", 6.0),
        (r"\bcontestar\b|\bcontesta\b", 2.0),
        (r"\bpreliminarmente\b", 1.0),
        (r"\bimpugna", 2.0),
    ),
    "sentenca": (
        (r"\bjulgo (parcialmente )?(procedente|improcedente)", 6.0),
        (r"\bdispositivo\b", 2.0),
        (r"\bfundamento e decido\b|\bdecido\b", 3.0),
        (r"\bpublique-se\b|\bregistre-se\b|\bintimem-se\b", 2.0),
        (r"\bsentenca\b", 2.0),
    ),
    "acordao": (
        (r"\bacordam os (desembargadores|ministros|juizes)\b", 7.0),
        (r"\bacordao\b", 4.0),
        (r"\bdesembargador(a)?\b|\brelator(a)?\b", 2.0),
        (r"\b(negaram|deram|nega-se|da-se) provimento\b", 3.0),
        (r"\bementa\b", 2.0),
    ),
    "contrato": (
        (r"\bclausula\b", 3.0),
        (r"\bcontratante\b", 3.0),
        (r"\bcontratad[ao]\b", 2.0),
        (r"\bcontrato de\b", 2.0),
        (r"\bvigencia\b|\bdo objeto\b", 1.0),
    ),
    "procuracao": (
        (r"\bprocuracao\b", 4.0),
        (r"\boutorgante\b", 4.0),
        (r"\boutorgad[oa]\b", 3.0),
        (r"\bpoderes\b", 3.0),
        (r"\bad judicia\b", 4.0),
    ),
    "boletim_ocorrencia": (
        (r"\bboletim de ocorrencia\b", 7.0),
        (r"\bnatureza da ocorrencia\b|\bcomunicante\b", 3.0),
        (r"\bdelegacia\b|\bautoridade policial\b", 2.0),
    ),
    "laudo_medico": (
        (r"\blaudo\b", 4.0),
        (r"\bcid(-10)?\b", 4.0),
        (r"\bcrm\b", 3.0),
        (r"\bdiagnostico\b|\bpaciente\b", 2.0),
        (r"\batestado medico\b", 4.0),
    ),
    "comprovante": (
        (r"\bcomprovante\b", 5.0),
        (r"\brecibo\b", 5.0),
        (r"\brecebi (de|a importancia)\b", 3.0),
        (r"\bvalor pago\b|\bautenticacao\b", 2.0),
    ),
}
_COMPILED = {
    doc_type: tuple((re.compile(pattern), weight) for pattern, weight in cues)
    for doc_type, cues in _CUES.items()
}

_PORTUGUESE_WORDS = frozenset(
    {"de", "que", "nao", "do", "da", "em", "para", "com", "os", "as", "um", "uma", "no", "na"}
)
_ENGLISH_WORDS = frozenset(
    {"the", "and", "of", "to", "in", "is", "that", "for", "with", "on", "this", "be", "are"}
)


@dataclass(frozen=True, slots=True)
class DocumentAnalysis:
    """What a document is and what it mentions; `to_dict()` gives plain JSON types."""

    doc_type: str
    char_count: int
    word_count: int
    language: str
    entities: list[Entity] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "doc_type": self.doc_type,
            "char_count": self.char_count,
            "word_count": self.word_count,
            "language": self.language,
            "entities": [entity.to_dict() for entity in self.entities],
        }


def classify_document(text: str) -> str:
    """The most likely document type (one of DOCUMENT_TYPES) from cue phrases."""
    folded = normalise(text)
    scores = {
        doc_type: sum(weight for pattern, weight in cues if pattern.search(folded))
        for doc_type, cues in _COMPILED.items()
    }
    best = max(scores, key=lambda doc_type: scores[doc_type])
    return best if scores[best] >= _MIN_SCORE else "outro"


def language_hint(text: str) -> str:
    """ "pt", "en" or "unknown", from how many common function words of each language occur."""
    words = text_words(text)
    portuguese = sum(word in _PORTUGUESE_WORDS for word in words)
    english = sum(word in _ENGLISH_WORDS for word in words)
    if portuguese + english < 3 or portuguese == english:
        return "unknown"
    return "pt" if portuguese > english else "en"


def analyse_text(text: str) -> DocumentAnalysis:
    """Type, size, language hint and entities of a document's text."""
    return DocumentAnalysis(
        doc_type=classify_document(text),
        char_count=len(text),
        word_count=len(text.split()),
        language=language_hint(text),
        entities=extract_entities(text),
    )
