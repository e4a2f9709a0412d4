"""Deterministic, explainable triage of a case: legal area, urgency, complexity and why.

Scores come from the weighted cue tables in `triage_rules`; every deciding cue is reported
with the words it matched, quoted from the client's own text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from backend.domain import triage_rules as rules
from backend.domain.entities import extract_entities
from backend.domain.summary import summarise
from backend.domain.text import PhraseMatch, Token, find_phrase, quote_around, tokenize

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]

_PRIORITY_BY_URGENCY = {"low": "LOW", "normal": "NORMAL", "high": "HIGH", "critical": "CRITICAL"}
_MAX_REASONS_PER_FIELD = 4
# Below this confidence a runner-up area is close enough that the case spans two areas.
MIXED_AREAS_CONFIDENCE = 0.3


@dataclass(frozen=True, slots=True)
class Hit:
    """One cue found in one part of the case (title or description), with its quote."""

    signal: str
    weight: float
    source: str
    quote: str


@dataclass(frozen=True, slots=True)
class TriageResult:
    """Outcome of triage; `to_dict()` gives plain JSON types."""

    area: str
    urgency: str
    complexity: int
    confidence: float
    summary: str
    reasons: list[dict[str, JsonValue]] = field(default_factory=list)
    entities: list[dict[str, str | int]] = field(default_factory=list)
    engine: str = rules.ENGINE

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "area": self.area,
            "urgency": self.urgency,
            "complexity": self.complexity,
            "confidence": self.confidence,
            "summary": self.summary,
            "reasons": [dict(reason) for reason in self.reasons],
            "entities": [dict(entity) for entity in self.entities],
            "engine": self.engine,
        }


@dataclass(frozen=True, slots=True)
class _Part:
    name: str
    text: str
    tokens: list[Token]
    factor: float


def urgency_to_priority(urgency: str) -> str:
    """Task priority name for an urgency level (low → "LOW", ..., critical → "CRITICAL")."""
    try:
        return _PRIORITY_BY_URGENCY[urgency]
    except KeyError:
        raise ValueError(f"unknown urgency: {urgency!r}") from None


def _cue_hits(parts: Sequence[_Part], cues: Sequence[rules.Cue]) -> list[Hit]:
    """Hits of one cue table; heavier cues first.

    A cue counts at most once per part (a rambling text cannot pile up one word), and a word
    already claimed by a heavier cue of the same table is not counted again.
    """
    found: list[Hit] = []
    by_weight = sorted(cues, key=lambda cue: -cue.weight)
    for part in parts:
        claimed: set[int] = set()
        for cue in by_weight:
            for match in find_phrase(part.tokens, cue.terms):
                span = set(range(match.first, match.last + 1))
                if match.negated or span & claimed:
                    continue
                claimed |= span
                quote = quote_around(part.text, part.tokens, match)
                found.append(Hit(cue.signal, cue.weight * part.factor, part.name, quote))
                break
    return found


def _stated_days(tokens: Sequence[Token], i: int) -> int | None:
    """Days of a deadline stated at tokens[i] ("em 5 dias", "faltam dez dias"), if any."""
    if i + 1 >= len(tokens) or tokens[i + 1].norm not in {"dia", "dias"}:
        return None
    word = tokens[i].norm
    days = int(word) if word.isdigit() else rules.NUMBER_WORDS.get(word)
    before = {t.norm for t in tokens[max(0, i - 3) : i] if t.clause == tokens[i].clause}
    # "há 10 dias" is the past and "com 20 dias de uso" an age, not deadlines.
    if (
        days is None
        or "ha" in before
        or i == 0
        or tokens[i - 1].norm not in rules.DEADLINE_LEAD_WORDS
    ):
        return None
    return days if days <= rules.DEADLINE_DAYS else None


def _deadline_hits(parts: Sequence[_Part]) -> tuple[list[Hit], list[Hit]]:
    """Deadlines within weeks make a case high; within a few days they also push to critical."""
    high: list[Hit] = []
    critical: list[Hit] = []
    for part in parts:
        for i, token in enumerate(part.tokens):
            days = _stated_days(part.tokens, i)
            if days is None:
                continue
            span = PhraseMatch(i, i + 1, token.start, part.tokens[i + 1].end, negated=False)
            quote = quote_around(part.text, part.tokens, span)
            signal = f"prazo de {days} dias"
            high.append(Hit(signal, rules.DEADLINE_WEIGHT * part.factor, part.name, quote))
            if days <= rules.DEADLINE_SHORT_DAYS:
                weight = rules.DEADLINE_SHORT_CRITICAL_WEIGHT * part.factor
                critical.append(Hit(signal, weight, part.name, quote))
    return high, critical


def _score(hits: Sequence[Hit]) -> float:
    return sum(hit.weight for hit in hits)


def _choose_area(parts: Sequence[_Part]) -> tuple[str, list[Hit], float]:
    """Best-scoring area, its hits, and a confidence from the margin over the runner-up."""
    hits = {area: _cue_hits(parts, rules.AREA_CUES.get(area, ())) for area in rules.AREAS}
    ranked = sorted(rules.AREAS, key=lambda area: (-_score(hits[area]), rules.AREAS.index(area)))
    top, runner_up = _score(hits[ranked[0]]), _score(hits[ranked[1]])
    if top < rules.AREA_MIN_SCORE:
        return "outro", hits["outro"], 0.0
    # 0 when tied, approaching 1 as the winner leaves the rest behind.
    confidence = round((top - runner_up) / (top + 1.0), 2)
    return ranked[0], hits[ranked[0]], confidence


def _choose_urgency(parts: Sequence[_Part], area: str) -> tuple[str, list[Hit]]:
    """The most serious level whose score reaches its threshold; "normal" is the default."""
    hits = {level: _cue_hits(parts, rules.URGENCY_CUES[level]) for level in rules.URGENCY_CUES}
    deadline_high, deadline_critical = _deadline_hits(parts)
    hits["high"] += deadline_high
    hits["critical"] += deadline_critical
    for level in ("critical", "high"):
        if _score(hits[level]) >= rules.URGENCY_THRESHOLDS[level]:
            return level, hits[level]
    low, dispute = _score(hits["low"]), _score(hits["normal"])
    if low >= rules.URGENCY_THRESHOLDS["low"] and low > dispute:
        return "low", hits["low"]
    if area == "outro" and not dispute:
        return "low", []
    return "normal", hits["normal"]


def _complexity(*, word_count: int, urgency: str, entity_count: int, mixed_areas: bool) -> int:
    """1-5 from length, urgency, how many facts are cited and whether areas overlap."""
    level = 1
    level += word_count > 60
    level += word_count > 150
    level += urgency in {"high", "critical"}
    level += entity_count >= 3
    level += mixed_areas
    return max(1, min(5, level))


def _reasons(field_name: str, hits: Sequence[Hit]) -> list[dict[str, JsonValue]]:
    strongest = sorted(hits, key=lambda hit: -hit.weight)[:_MAX_REASONS_PER_FIELD]
    return [
        {
            "field": field_name,
            "signal": hit.signal,
            "quote": hit.quote,
            "source": hit.source,
            "weight": round(hit.weight, 2),
        }
        for hit in strongest
    ]


def classify_case(title: str, description: str) -> TriageResult:
    """Triage a case from its title and description (Portuguese, any register or spelling)."""
    parts = [
        _Part("title", title, tokenize(title), rules.TITLE_WEIGHT),
        _Part("description", description, tokenize(description), 1.0),
    ]
    area, area_hits, confidence = _choose_area(parts)
    urgency, urgency_hits = _choose_urgency(parts, area)
    entities = [entity.to_dict() for entity in extract_entities(f"{title}\n{description}")]
    complexity = _complexity(
        word_count=len(parts[0].tokens) + len(parts[1].tokens),
        urgency=urgency,
        entity_count=len(entities),
        mixed_areas=area != "outro" and confidence < MIXED_AREAS_CONFIDENCE,
    )
    return TriageResult(
        area=area,
        urgency=urgency,
        complexity=complexity,
        confidence=confidence,
        summary=summarise(description) or summarise(title),
        reasons=_reasons("area", area_hits) + _reasons("urgency", urgency_hits),
        entities=entities,
    )
