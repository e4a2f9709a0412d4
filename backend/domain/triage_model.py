"""Two small linear models of the triage engine (area and urgency), in pure Python.

Urgency features are named facts about a case (a harm to health happening now, a legal term
within 30 days, a planning question, ...), read from `triage_evidence.Evidence`, plus the
stems of the words used (weighed down by a strong regularisation). Area features are the
stems of the words used plus the scores of the area cue tables of `triage_rules`. The weights
are trained offline by `scripts/train_triage.py` on the development cases and stored in
`triage_weights.json` next to this file; here they are only loaded and applied (softmax over
the classes), so every decision can be traced to the features that pushed it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from backend.domain.text import Token
from backend.domain.triage_evidence import CRITICAL_KINDS, RECENT_DAYS, Evidence, Harm

WEIGHTS_PATH = Path(__file__).with_name("triage_weights.json")
URGENCIES = ("low", "normal", "high", "critical")

# Horizons (days ahead) that the definitions draw lines at: hours or days, weeks, months.
DAYS_SOON = 7
DAYS_WEEKS = 30


# Function words carry no topic; digits and one- or two-letter words neither.
STOPWORDS = frozenset(
    [
        "que",
        "com",
        "para",
        "por",
        "pra",
        "pro",
        "pelo",
        "pela",
        "pelos",
        "pelas",
        "dos",
        "das",
        "nos",
        "nas",
        "num",
        "numa",
        "uma",
        "umas",
        "uns",
        "mas",
        "mais",
        "como",
        "quando",
        "onde",
        "porque",
        "pois",
        "isso",
        "isto",
        "esse",
        "essa",
        "esses",
        "essas",
        "este",
        "esta",
        "estes",
        "estas",
        "aquele",
        "aquela",
        "ele",
        "ela",
        "eles",
        "elas",
        "voce",
        "voces",
        "meu",
        "minha",
        "meus",
        "minhas",
        "seu",
        "sua",
        "seus",
        "suas",
        "nosso",
        "nossa",
        "dele",
        "dela",
        "deles",
        "delas",
        "ter",
        "tem",
        "tenho",
        "tinha",
        "foi",
        "fui",
        "ser",
        "sou",
        "era",
        "sao",
        "esta",
        "estou",
        "estava",
        "ja",
        "ate",
        "tambem",
        "ainda",
        "entao",
        "muito",
        "muita",
        "agora",
        "aqui",
        "ali",
        "isso",
        "sobre",
        "entre",
        "sem",
        "nao",
        "sim",
        "the",
        "and",
    ]
)
WORD_PREFIX = "w:"
# Features from the words of the text (stems, title stems, stem pairs), not from named facts.
WORD_PREFIXES = ("w:", "t:", "b:")


def word_features(tokens: Sequence[Token], prefix: str = WORD_PREFIX) -> dict[str, float]:
    """The distinct stems of a text, L2-normalised so that long texts weigh no more."""
    stems = {
        t.stem
        for t in tokens
        if len(t.norm) >= 3 and not t.norm.isdigit() and t.norm not in STOPWORDS
    }
    if not stems:
        return {}
    value = 1.0 / math.sqrt(len(stems))
    return {prefix + s: value for s in sorted(stems)}


def _bucket(days: int | None) -> str | None:
    # Day 0 is mostly when something was received or happened; harms carry "today".
    if days is None or days < 1:
        return None
    if days <= DAYS_SOON:
        return "soon"
    if days <= DAYS_WEEKS:
        return "weeks"
    return "months"


def _harm_soon(harm: Harm) -> bool:
    return harm.state == "happening" or (
        harm.state == "threatened" and (harm.days is None or harm.days <= DAYS_SOON)
    )


def features(ev: Evidence, area: str) -> dict[str, float]:
    """Named features of a case for urgency, each 0..1.

    No word stems: they let the model remember how the development batches were written
    (leave-one-batch-out gained nothing from them) instead of what is at stake and when.
    """
    f: dict[str, float] = {}
    mine = [h for h in ev.harms if h.who != "other"]
    for kind in (*CRITICAL_KINDS, "income", "service"):
        of_kind = [h for h in mine if h.kind == kind]
        states = {h.state for h in of_kind}
        if any(_harm_soon(h) for h in of_kind):
            f[f"{kind}:now"] = 1.0
        elif any(h.state == "threatened" for h in of_kind):
            f[f"{kind}:weeks"] = 1.0
        elif "undated" in states:
            f[f"{kind}:undated"] = 1.0
        elif states & {"past", "hypothetical", "negated"}:
            f[f"{kind}:not_live"] = 1.0
    critical = [h for h in mine if h.kind in CRITICAL_KINDS]
    if any(_harm_soon(h) for h in critical):
        f["critical_harm:now"] = 1.0
    if any(h.state == "threatened" and h.days is not None and h.days <= 3 for h in critical):
        f["critical_harm:days<=3"] = 1.0
    for state in ("past", "hypothetical", "negated"):
        if any(h.state == state for h in critical) and "critical_harm:now" not in f:
            f[f"critical_harm:only_{state}"] = 1.0
    live_legal = [e for e in ev.events if e.kind == "legal" and not e.lapsed and e.days >= 0]
    for kind in ("legal", "harm", "plan"):
        # Day 0 is mostly when a notice was received: it does not hide the term it gives.
        ahead = [e.days for e in ev.events if e.kind == kind and not e.lapsed and e.days >= 1]
        bucket = _bucket(min(ahead)) if ahead else None
        if bucket:
            f[f"{kind}_event:{bucket}"] = 1.0
    if any(e.lapsed or (e.kind == "legal" and -90 <= e.days < 0) for e in ev.events) and not (
        live_legal
    ):
        f["legal_event:past"] = 1.0
    if any(-3 <= t.days <= 0 for t in ev.times):
        f["time:today_or_days_ago"] = 1.0
    for group in ("planning", "no_conflict", "dispute", "no_rush", "dramatic", "has_income"):
        hits = len(ev.cue(group))
        if hits:
            f[f"cue:{group}"] = 1.0
            if hits >= 3:
                f[f"cue:{group}:many"] = 1.0
    if ev.cue("not_a_case"):
        f["cue:not_a_case"] = 1.0
    if ev.caps_ratio > 0.3 or ev.exclamations >= 3:
        f["style:shouting"] = 1.0
    if ev.words < 30:
        f["style:short"] = 1.0
    if ev.questions:
        f["style:questions"] = min(1.0, 2 * ev.questions)
    if ev.past_verbs:
        f["narrative:past"] = min(1.0, ev.past_verbs / 5)
    if any(t.days < -RECENT_DAYS for t in ev.times):
        f["time:past_date"] = 1.0
    if area == "outro":
        f["area:outro"] = 1.0
    f[f"area={area}"] = 1.0
    return f


def area_features(tokens: Sequence[Token]) -> dict[str, float]:
    """Features of the area model: the word stems of the case.

    The cue tables are not features: they were written by reading the training texts, so a
    model fitted on them learns to trust them more than they deserve on new writers. They are
    added to the model's log-probabilities with one weight instead (`Models.rule_weight`).
    """
    return word_features(tokens)


def combine(
    model: LinearModel,
    feats: Mapping[str, float],
    rule_scores: Mapping[str, float],
    rule_weight: float,
) -> dict[str, float]:
    """Area probabilities: softmax of the model's log-probabilities plus weighted cue scores."""
    scores = dict(zip(model.classes, model.scores(feats), strict=True))
    combined = {name: s + rule_weight * rule_scores.get(name, 0.0) for name, s in scores.items()}
    top = max(combined.values())
    exps = {name: math.exp(s - top) for name, s in combined.items()}
    total = sum(exps.values())
    return {name: e / total for name, e in exps.items()}


@dataclass(frozen=True, slots=True)
class LinearModel:
    classes: tuple[str, ...]
    weights: dict[str, tuple[float, ...]]
    bias: tuple[float, ...]

    def scores(self, feats: Mapping[str, float]) -> list[float]:
        totals = list(self.bias)
        for name, value in feats.items():
            row = self.weights.get(name)
            if row is None:
                continue
            for k, weight in enumerate(row):
                totals[k] += weight * value
        return totals

    def probabilities(self, feats: Mapping[str, float]) -> dict[str, float]:
        scores = self.scores(feats)
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.classes, exps, strict=True)}

    def contributions(self, feats: Mapping[str, float], label: str) -> list[tuple[str, float]]:
        """Features by how much they pushed `label` above the mean of the other levels."""
        k = self.classes.index(label)
        others = [i for i in range(len(self.classes)) if i != k]
        pushed = []
        for name, value in feats.items():
            row = self.weights.get(name)
            if row is None:
                continue
            margin = row[k] - sum(row[i] for i in others) / len(others)
            pushed.append((name, margin * value))
        return sorted(pushed, key=lambda item: -item[1])


def model_from_json(data: Mapping[str, object]) -> LinearModel:
    """A model from its JSON form (classes, bias, weights by feature name)."""
    classes = tuple(str(c) for c in data["classes"])  # type: ignore[attr-defined]
    raw = data["weights"]
    assert isinstance(raw, dict)
    weights = {str(name): tuple(float(w) for w in row) for name, row in raw.items()}
    bias = tuple(float(b) for b in data["bias"])  # type: ignore[attr-defined]
    return LinearModel(classes, weights, bias)


@dataclass(frozen=True, slots=True)
class Models:
    area: LinearModel
    urgency: LinearModel
    # Weight of the cue-table scores of `triage_rules` added to the area model's scores.
    rule_weight: float = 0.0


@cache
def load_models(path: Path = WEIGHTS_PATH) -> Models:
    """The area and urgency models shipped with the code."""
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    return Models(
        model_from_json(data["area"]),
        model_from_json(data["urgency"]),
        float(data["rule_weight"]),
    )


def load_model(path: Path = WEIGHTS_PATH) -> LinearModel:
    """The urgency model shipped with the code."""
    return load_models(path).urgency
