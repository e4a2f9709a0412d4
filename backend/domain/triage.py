"""Deterministic, explainable triage of a case: legal area, urgency, complexity and why.

The area comes from a linear model over the words of the case and the scores of the weighted
cue tables in `triage_rules`; the named precedence rules of the written definitions (health
plan, SUS and the State, rent and eviction, inheritance and domestic violence) win over it.
Urgency comes from evidence read against the submission date (`triage_evidence`: harms with
their state, dated events, cue groups) and the words used, ranked by the linear model of
`triage_model` and bounded by the written definitions. Every reason quotes the client's own
text: the cues and words that decided the area, the time horizon found, the harms at stake and
their state, and the model features that weighed most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from backend.domain import triage_rules as rules
from backend.domain.entities import extract_entities
from backend.domain.summary import summarise
from backend.domain.text import (
    PhraseMatch,
    Token,
    TokenIndex,
    find_phrase,
    quote_around,
    tokenize,
)
from backend.domain.triage_evidence import (
    CRITICAL_KINDS,
    Evidence,
    Harm,
    figurative_liberty,
    gather,
)
from backend.domain.triage_model import (
    WORD_PREFIX,
    LinearModel,
    Models,
    area_features,
    combine,
    features,
    load_models,
)
from backend.domain.triage_time import fold

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]

_PRIORITY_BY_URGENCY = {"low": "LOW", "normal": "NORMAL", "high": "HIGH", "critical": "CRITICAL"}
_MAX_REASONS_PER_FIELD = 4
# Below this confidence a runner-up area is close enough that the case spans two areas.
MIXED_AREAS_CONFIDENCE = 0.3
# From this probability of critical a case is rated at least high (chosen by cross-validation).
CRITICAL_FLOOR = 0.1


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
    index: TokenIndex
    # Tokens that name prison figuratively: they count for no area.
    figurative: frozenset[int] = frozenset()


def urgency_to_priority(urgency: str) -> str:
    """Task priority name for an urgency level (low → "LOW", ..., critical → "CRITICAL")."""
    try:
        return _PRIORITY_BY_URGENCY[urgency]
    except KeyError:
        raise ValueError(f"unknown urgency: {urgency!r}") from None


def _cue_hits(
    parts: Sequence[_Part], cues: Sequence[rules.Cue], *, skip_negated: bool = False
) -> list[Hit]:
    """Hits of one cue table; heavier cues first.

    A cue counts at most once per part (a rambling text cannot pile up one word), and a word
    already claimed by a heavier cue of the same table is not counted again.
    """
    found: list[Hit] = []
    by_weight = sorted(cues, key=lambda cue: -cue.weight)
    for part in parts:
        claimed: set[int] = set()
        for cue in by_weight:
            for match in find_phrase(part.tokens, cue.terms, part.index):
                span = set(range(match.first, match.last + 1))
                if (skip_negated and match.negated) or span & (claimed | part.figurative):
                    continue
                claimed |= span
                quote = quote_around(part.text, part.tokens, match)
                found.append(Hit(cue.signal, cue.weight * part.factor, part.name, quote))
                break
    return found


def _score(hits: Sequence[Hit]) -> float:
    return sum(hit.weight for hit in hits)


def _part(name: str, text: str, factor: float) -> _Part:
    tokens = tokenize(text)
    spans = figurative_liberty(fold(text))
    figurative = frozenset(
        i for i, t in enumerate(tokens) if any(a <= t.start < b for a, b in spans)
    )
    return _Part(name, text, tokens, factor, TokenIndex(tokens), figurative)


def area_tokens(parts: Sequence[_Part]) -> list[Token]:
    """The words the area is read from: both parts, without figurative prison words."""
    return [t for part in parts for i, t in enumerate(part.tokens) if i not in part.figurative]


def _parts(title: str, description: str) -> list[_Part]:
    return [
        _part("title", title, rules.TITLE_WEIGHT),
        _part("description", description, 1.0),
    ]


def classify_area(title: str, description: str) -> tuple[str, list[Hit], float]:
    """The area of a case, the cues that decided it and a confidence."""
    models = load_models()
    decision = decide_area(_parts(title, description), models.area, models.rule_weight)
    return decision.area, decision.hits, decision.confidence


@dataclass(frozen=True, slots=True)
class AreaDecision:
    area: str
    confidence: float
    hits: list[Hit]
    reasons: list[dict[str, JsonValue]]
    probabilities: dict[str, float]
    precedence: str | None = None


def _word_reasons(
    parts: Sequence[_Part], model: LinearModel, feats: dict[str, float], area: str
) -> list[dict[str, JsonValue]]:
    """The words of the text that pushed the model most towards `area`, quoted."""
    reasons: list[dict[str, JsonValue]] = []
    for name, weight in model.contributions(feats, area):
        if weight <= 0 or len(reasons) >= 2:
            break
        if not name.startswith(WORD_PREFIX):
            continue
        stem = name[len(WORD_PREFIX) :]
        for part in parts:
            index = next((i for i, t in enumerate(part.tokens) if t.stem == stem), None)
            if index is None:
                continue
            token = part.tokens[index]
            match = PhraseMatch(index, index, token.start, token.end, negated=False)
            reasons.append(
                {
                    "field": "area",
                    "signal": f"palavra: {token.text}",
                    "quote": quote_around(part.text, part.tokens, match),
                    "source": part.name,
                    "weight": round(weight, 2),
                }
            )
            break
    return reasons


def decide_area(parts: Sequence[_Part], model: LinearModel, rule_weight: float) -> AreaDecision:
    """The word model and the cue tables vote; a named precedence rule wins over them."""
    hits = {area: _cue_hits(parts, rules.AREA_CUES.get(area, ())) for area in rules.AREAS}
    scores = {area: _score(found) for area, found in hits.items()}
    feats = area_features(area_tokens(parts))
    probabilities = combine(model, feats, scores, rule_weight)
    ranked = sorted(probabilities, key=lambda area: -probabilities[area])
    area = ranked[0]
    precedence: Hit | None = None
    named = [
        (name, found)
        for name, cues in rules.PRECEDENCE.items()
        if probabilities.get(name, 0.0) >= rules.PRECEDENCE_MIN_PROBABILITY
        and (found := _cue_hits(parts, cues, skip_negated=True))
    ]
    # Two named rules: the one the title names states the main request.
    titled = [(name, found) for name, found in named if any(h.source == "title" for h in found)]
    if len(named) > 1 and titled and area not in {name for name, _ in titled}:
        named = titled
    if named and area not in {name for name, _ in named}:
        area, found = max(named, key=lambda item: probabilities[item[0]])
        precedence = found[0]
    # 0 when tied, approaching 1 as the winner leaves the rest behind.
    runner_up = max(p for name, p in probabilities.items() if name != area)
    confidence = round(max(0.0, probabilities[area] - runner_up), 2)
    if area == "outro" and max(scores.values()) < rules.AREA_MIN_SCORE:
        # Nothing specific recognised: "outro" by default, not by evidence.
        confidence = 0.0
    reasons = _reasons("area", hits[area])[:2] + _word_reasons(parts, model, feats, area)
    if precedence is not None:
        first = _reasons("area", [precedence])[0]
        first["signal"] = f"precedência: {precedence.signal}"
        reasons = [first, *reasons[:2]]
    name = precedence.signal if precedence else None
    return AreaDecision(area, confidence, hits[area], reasons, probabilities, name)


_HARM_LABELS = {
    "liberty": "prisão",
    "life": "violência ou ameaça",
    "health": "saúde",
    "home": "moradia",
    "child": "criança retida",
    "income": "sem renda",
    "service": "serviço cortado",
}
_STATE_LABELS = {
    "happening": "acontecendo",
    "threatened": "iminente",
    "undated": "sem data",
    "past": "no passado",
    "hypothetical": "hipotético",
    "negated": "negado",
}
_STATE_ORDER = ("threatened", "happening", "undated", "past", "hypothetical", "negated")
_LEVEL = {level: i for i, level in enumerate(rules.URGENCIES)}


@dataclass(frozen=True, slots=True)
class UrgencyDecision:
    urgency: str
    probabilities: dict[str, float]
    reasons: list[dict[str, JsonValue]]


def _when(days: int | None) -> str:
    if days is None:
        return ""
    if days < 0:
        return f"há {-days} dia(s)"
    return "hoje" if days == 0 else f"em {days} dia(s)"


def _harm_reason(ev: Evidence, harm: Harm) -> dict[str, JsonValue]:
    """The harm at stake (signal), its state and when, quoted from the case."""
    return {
        "field": "urgency",
        "signal": _HARM_LABELS[harm.kind],
        "quote": harm.quote,
        "source": ev.source(harm.start),
        "weight": 0.0,
        "harm": harm.kind,
        "state": harm.state,
        "detail": " ".join(filter(None, (_STATE_LABELS[harm.state], _when(harm.days)))),
    }


def _evidence_reasons(ev: Evidence) -> list[dict[str, JsonValue]]:
    """The time horizon found and the harms at stake with their state, quoted."""
    reasons: list[dict[str, JsonValue]] = []
    ahead = [e for e in ev.events if e.days >= 0 and not e.lapsed and e.kind != "plan"]
    if ahead:
        nearest = min(ahead, key=lambda e: e.days)
        reasons.append(
            {
                "field": "urgency",
                "signal": "prazo ou evento próximo",
                "detail": _when(nearest.days),
                "days": nearest.days,
                "quote": nearest.quote,
                "source": ev.source(nearest.start),
                "weight": 0.0,
            }
        )
    lapsed = [e for e in ev.events if e.lapsed or (e.kind == "legal" and e.days < 0)]
    if lapsed and not ahead:
        event = max(lapsed, key=lambda e: e.days)
        reasons.append(
            {
                "field": "urgency",
                "signal": "prazo ou evento já passado",
                "days": event.days,
                "quote": event.quote,
                "source": ev.source(event.start),
                "weight": 0.0,
            }
        )
    seen: set[str] = set()
    mine = [h for h in ev.harms if h.who != "other"]
    for harm in sorted(mine, key=lambda h: (_STATE_ORDER.index(h.state), h.start)):
        if harm.kind in seen:
            continue
        seen.add(harm.kind)
        reasons.append(_harm_reason(ev, harm))
    return reasons


def decide_urgency(ev: Evidence, area: str, model: LinearModel) -> UrgencyDecision:
    """Urgency from the evidence: the model ranks, the written definitions bound it.

    Critical needs liberty, life, health, home or a child at stake now or within days; such a
    harm never leaves a case below high.
    """
    feats = features(ev, area)
    probabilities = model.probabilities(feats)
    urgency = max(rules.URGENCIES, key=lambda level: probabilities.get(level, 0.0))
    critical_live = any(
        h.kind in CRITICAL_KINDS and h.state in {"happening", "threatened"} and h.who != "other"
        for h in ev.harms
    )
    if urgency == "critical" and not critical_live:
        urgency = "high"
    if "critical_harm:now" in feats and _LEVEL[urgency] < _LEVEL["high"]:
        urgency = "high"
    # A case the model finds plausibly critical is not left below high: missing a live harm to
    # liberty, life, health or home costs more than rating a normal case high.
    if probabilities.get("critical", 0.0) >= CRITICAL_FLOOR and _LEVEL[urgency] < _LEVEL["high"]:
        urgency = "high"
    # A concrete legal deadline within weeks is high by definition.
    if ("legal_event:soon" in feats or "legal_event:weeks" in feats) and _LEVEL[urgency] < _LEVEL[
        "high"
    ]:
        urgency = "high"
    pushed: list[dict[str, JsonValue]] = [
        {
            "field": "urgency",
            "signal": f"modelo: {name}",
            "quote": "",
            "source": "model",
            "weight": round(weight, 2),
        }
        for name, weight in model.contributions(feats, urgency)[:2]
        if weight > 0
    ]
    reasons: list[dict[str, JsonValue]] = [*_evidence_reasons(ev), *pushed]
    return UrgencyDecision(urgency, probabilities, reasons)


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


def classify_case(
    title: str, description: str, *, submitted_at: date | None = None
) -> TriageResult:
    """Triage a case from its title and description (Portuguese, any register or spelling).

    `submitted_at` (default: today) is the day explicit and relative dates are read against.
    """
    return triage(title, description, submitted_at or date.today(), load_models())


def triage(title: str, description: str, submitted_at: date, models: Models) -> TriageResult:
    """`classify_case` with the models given (training and cross-validation use this)."""
    parts = _parts(title, description)
    area_decision = decide_area(parts, models.area, models.rule_weight)
    area = area_decision.area
    evidence = gather(title, description, submitted_at)
    tokens = [*parts[0].tokens, *parts[1].tokens]
    decision = decide_urgency(evidence, area, models.urgency)
    urgency = decision.urgency
    entities = [entity.to_dict() for entity in extract_entities(f"{title}\n{description}")]
    complexity = _complexity(
        word_count=len(tokens),
        urgency=urgency,
        entity_count=len(entities),
        mixed_areas=area != "outro" and area_decision.confidence < MIXED_AREAS_CONFIDENCE,
    )
    return TriageResult(
        area=area,
        urgency=urgency,
        complexity=complexity,
        confidence=area_decision.confidence,
        summary=summarise(description) or summarise(title),
        reasons=area_decision.reasons + decision.reasons,
        entities=entities,
    )
