"""Train the area and urgency models of the triage engine on the development cases.

    PYTHONPATH=. python scripts/train_triage.py             # cross-validate, then write weights
    PYTHONPATH=. python scripts/train_triage.py --cv-only   # only the cross-validation figures
    PYTHONPATH=. python scripts/train_triage.py --misses b1,b2,b3   # list errors of some groups

Development data, all in the repository: `tests/data/triage_cases.jsonl` (the older set,
group "old", no dates) and every line of `tests/data/triage_gold.jsonl` (batches b1..b9; each
of b4..b9 was held out once, scored, and is development data since). Nothing else is read.

Both models are multinomial logistic regressions (`backend.domain.triage_model`) fitted by
stochastic gradient descent with L2 in pure Python (deterministic: the seed only fixes the
order of the cases). Area: word stems plus cue-table scores. Urgency: the named evidence
features only (harms and their state, time horizons, cue groups, the share of questions, a
narrated past), no word stems. Leave-one-batch-out: for each of b1..b9, models trained on
the older set and the eight other batches score it, and the whole engine (`triage`, rules
and bounds included) is scored on the nine batches pooled. The grid holds the setting
rules-v4 chose over b1..b7 (area L2 0.0001, cue weight 0.3, urgency L2 0.001); widen it to
search again. Printed for the chosen setting: each batch, the pooled figures, and "b8+b9":
models trained on old+b1..b7 only, scored on b8+b9. The weights are then fitted on
everything and written to `backend/domain/triage_weights.json`. Rerunning gives the same
file.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from backend.domain import triage_rules as rules
from backend.domain.triage import (
    _cue_hits,
    _Part,
    _parts,
    _score,
    area_tokens,
    decide_area,
    decide_urgency,
)
from backend.domain.triage_evidence import Evidence, gather
from backend.domain.triage_model import (
    URGENCIES,
    WEIGHTS_PATH,
    WORD_PREFIXES,
    LinearModel,
    area_features,
    features,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_triage import figures, report

ROOT = Path(__file__).resolve().parents[1]
OLD_CASES = ROOT / "tests" / "data" / "triage_cases.jsonl"
GOLD = ROOT / "tests" / "data" / "triage_gold.jsonl"
GROUPS = ("old", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9")
# The batches scored one by one (the older set is always trained on: it has no dates).
BATCHES = GROUPS[1:]
# A second check: trained on the batches written before b8 and b9 were, scored on those two.
TUNE_GROUPS = ("old", "b1", "b2", "b3", "b4", "b5", "b6", "b7")
CHECK_GROUPS = ("b8", "b9")
# The older set has no submission dates; its texts only use relative ones.
OLD_SUBMITTED = date(2026, 1, 15)
SEED = 20260115
EPOCHS = 40
LEARNING_RATE = 0.5
# A word seen in fewer training cases than this gets no weight.
MIN_WORD_CASES = 2
AREA_L2_GRID = (0.0001,)
RULE_WEIGHT_GRID = (0.3,)
URGENCY_L2_GRID = (0.001,)
# The urgency model has no word features any more; kept for the shape of `fit`.
URGENCY_WORD_L2_GRID = (0.01,)


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    group: str
    title: str
    description: str
    submitted_at: date
    area: str
    urgency: str


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_dev() -> list[Case]:
    cases = [
        Case(r["id"], "old", r["title"], r["description"], OLD_SUBMITTED, r["area"], r["urgency"])
        for r in _read(OLD_CASES)
    ]
    for r in _read(GOLD):
        cases.append(
            Case(
                r["id"],
                r["batch"],
                r["title"],
                r["description"],
                date.fromisoformat(r["submitted_at"]),
                r["area"],
                r["urgency"],
            )
        )
    return cases


@dataclass(frozen=True, slots=True)
class Prepared:
    case: Case
    parts: list[_Part]
    evidence: Evidence
    area_features: dict[str, float]
    rule_scores: dict[str, float]


def prepare(cases: Sequence[Case]) -> list[Prepared]:
    out = []
    for case in cases:
        parts = _parts(case.title, case.description)
        scores = {
            area: _score(_cue_hits(parts, rules.AREA_CUES.get(area, ()))) for area in rules.AREAS
        }
        ev = gather(case.title, case.description, case.submitted_at)
        out.append(Prepared(case, parts, ev, area_features(area_tokens(parts)), scores))
    return out


def _is_word(name: str) -> bool:
    return name.startswith(WORD_PREFIXES)


def fit(
    samples: Sequence[tuple[Mapping[str, float], str]],
    classes: Sequence[str],
    l2: float,
    word_l2: float,
) -> LinearModel:
    """Multinomial logistic regression by SGD with (lazily applied) L2; deterministic.

    Minimises mean cross-entropy + l2/2 |w|^2, with `word_l2` for word-stem features.
    """
    seen = Counter(name for feats, _ in samples for name in feats)
    names = sorted(
        name for name, count in seen.items() if not _is_word(name) or count >= MIN_WORD_CASES
    )
    index = {name: i for i, name in enumerate(names)}
    penalty = [word_l2 if _is_word(name) else l2 for name in names]
    k = len(classes)
    data = [
        (
            [(index[n], v) for n, v in sorted(feats.items()) if n in index],
            classes.index(label),
        )
        for feats, label in samples
    ]
    weights = [[0.0] * k for _ in names]
    bias = [0.0] * k
    order = list(range(len(data)))
    rng = random.Random(SEED)
    for epoch in range(EPOCHS):
        lr = LEARNING_RATE / (1.0 + 0.25 * epoch)
        decay = [1.0 - lr * p for p in penalty]
        last = [0] * len(names)
        rng.shuffle(order)
        for step, j in enumerate(order):
            feats, label = data[j]
            for i, _ in feats:
                gap = step - last[i]
                if gap:
                    factor = decay[i] ** gap
                    row = weights[i]
                    for c in range(k):
                        row[c] *= factor
                    last[i] = step
            scores = list(bias)
            for i, v in feats:
                row = weights[i]
                for c in range(k):
                    scores[c] += row[c] * v
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            deltas = [e / total for e in exps]
            deltas[label] -= 1.0
            for c in range(k):
                bias[c] -= lr * deltas[c]
            for i, v in feats:
                row = weights[i]
                for c in range(k):
                    row[c] -= lr * deltas[c] * v
        steps = len(order)
        for i in range(len(names)):
            gap = steps - last[i]
            if gap:
                factor = decay[i] ** gap
                row = weights[i]
                for c in range(k):
                    row[c] *= factor
    return LinearModel(
        tuple(classes),
        {name: tuple(weights[i]) for name, i in index.items()},
        tuple(bias),
    )


@dataclass(frozen=True, slots=True)
class Setting:
    area_l2: float
    rule_weight: float
    urgency_l2: float
    urgency_word_l2: float


def fit_area(rows: Sequence[Prepared], setting: Setting) -> LinearModel:
    return fit(
        [(r.area_features, r.case.area) for r in rows],
        rules.AREAS,
        setting.area_l2,
        setting.area_l2,
    )


def fit_urgency(rows: Sequence[Prepared], setting: Setting) -> LinearModel:
    return fit(
        [(features(r.evidence, r.case.area), r.case.urgency) for r in rows],
        URGENCIES,
        setting.urgency_l2,
        setting.urgency_word_l2,
    )


Predictions = dict[str, tuple[str, str]]


def predict(
    rows: Sequence[Prepared], area: LinearModel, urgency: LinearModel, rule_weight: float
) -> Predictions:
    out: Predictions = {}
    for row in rows:
        chosen = decide_area(row.parts, area, rule_weight).area
        level = decide_urgency(row.evidence, chosen, urgency).urgency
        out[row.case.id] = (chosen, level)
    return out


def held_out(
    train: Sequence[Prepared],
    test: Sequence[Prepared],
    setting: Setting,
    cache: dict[object, LinearModel],
) -> Predictions:
    key = tuple(sorted({r.case.group for r in train}))
    area_key = (key, "area", setting.area_l2)
    urgency_key = (key, "urgency", setting.urgency_l2, setting.urgency_word_l2)
    if area_key not in cache:
        cache[area_key] = fit_area(train, setting)
    if urgency_key not in cache:
        cache[urgency_key] = fit_urgency(train, setting)
    return predict(test, cache[area_key], cache[urgency_key], setting.rule_weight)


def lobo(
    rows: Sequence[Prepared], setting: Setting, cache: dict[object, LinearModel]
) -> Predictions:
    predicted: Predictions = {}
    for group in BATCHES:
        train = [r for r in rows if r.case.group != group]
        test = [r for r in rows if r.case.group == group]
        predicted.update(held_out(train, test, setting, cache))
    return predicted


def check(
    rows: Sequence[Prepared], setting: Setting, cache: dict[object, LinearModel]
) -> Predictions:
    train = [r for r in rows if r.case.group in TUNE_GROUPS]
    test = [r for r in rows if r.case.group in CHECK_GROUPS]
    return held_out(train, test, setting, cache)


def score(
    rows: Sequence[Prepared], predicted: Predictions, *, show: bool = False
) -> dict[str, float]:
    chosen = [r for r in rows if r.case.id in predicted]
    args = (
        [r.case.area for r in chosen],
        [predicted[r.case.id][0] for r in chosen],
        [r.case.urgency for r in chosen],
        [predicted[r.case.id][1] for r in chosen],
    )
    return report(*args) if show else figures(*args)


def _objective(fig: Mapping[str, float]) -> float:
    # Accuracy of both fields, and a critical case below high costs like five errors.
    return fig["area"] + fig["urgency"] - 5 * fig["critical_below_high"] / fig["cases"]


def misses(rows: Sequence[Prepared], predicted: Predictions, groups: Sequence[str]) -> None:
    for row in rows:
        if row.case.group not in groups or row.case.id not in predicted:
            continue
        area, level = predicted[row.case.id]
        if (area, level) != (row.case.area, row.case.urgency):
            print(
                f"{row.case.id}: want {row.case.area}/{row.case.urgency} got {area}/{level}"
                f" | {row.case.title} | {row.case.description}"
            )


def _round(row: Sequence[float]) -> list[float]:
    return [round(w, 4) for w in row]


def to_json(area: LinearModel, urgency: LinearModel, setting: Setting, sources: str) -> str:
    """Both models and the weight of the cue tables, compact JSON."""

    def model(m: LinearModel) -> dict[str, object]:
        kept = {n: r for n, r in m.weights.items() if max(abs(w) for w in r) >= 5e-4}
        return {
            "classes": list(m.classes),
            "bias": _round(m.bias),
            "weights": {name: _round(row) for name, row in sorted(kept.items())},
        }

    data = {
        "about": "Area and urgency models of triage; written by scripts/train_triage.py.",
        "trained_on": sources,
        "setting": {
            "area_l2": setting.area_l2,
            "rule_weight": setting.rule_weight,
            "urgency_l2": setting.urgency_l2,
            "urgency_word_l2": setting.urgency_word_l2,
            "epochs": EPOCHS,
            "learning_rate": LEARNING_RATE,
            "min_word_cases": MIN_WORD_CASES,
        },
        "rule_weight": setting.rule_weight,
        "area": model(area),
        "urgency": model(urgency),
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cv-only", action="store_true")
    parser.add_argument("--misses", default="", help="groups whose LOBO errors to list")
    parser.add_argument("--fixed", action="store_true", help="skip the grid; first setting")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cases = load_dev()
    print(
        f"{len(cases)} development cases: "
        + ", ".join(f"{g} {n}" for g, n in Counter(c.group for c in cases).items())
    )
    rows = prepare(cases)
    cache: dict[object, LinearModel] = {}
    grid = [
        Setting(a, b, u, w)
        for a, b, u, w in itertools.product(
            AREA_L2_GRID, RULE_WEIGHT_GRID, URGENCY_L2_GRID, URGENCY_WORD_L2_GRID
        )
    ]
    if args.fixed:
        grid = grid[:1]
    results = {}
    for setting in grid:
        results[setting] = score(rows, lobo(rows, setting, cache))
        fig = results[setting]
        print(
            f"{setting}: LOBO area {fig['area']:.3f} urgency {fig['urgency']:.3f}"
            f" crit<high {int(fig['critical_below_high'])}"
        )
    best = max(grid, key=lambda s: _objective(results[s]))
    print(f"chosen {best}")
    predicted = lobo(rows, best, cache)
    for group in BATCHES:
        print(f"\n--- held-out batch {group} (trained on the older set and the other batches) ---")
        score([r for r in rows if r.case.group == group], predicted, show=True)
    print("\n=== leave-one-batch-out, b1..b9 pooled ===")
    score(rows, predicted, show=True)
    print("\n=== b8+b9, trained on old+b1..b7 only ===")
    score(rows, check(rows, best, cache), show=True)
    if args.misses:
        print()
        misses(rows, predicted, args.misses.split(","))
    if not args.cv_only:
        area = fit_area(rows, best)
        urgency = fit_urgency(rows, best)
        sources = "triage_cases.jsonl (old) + triage_gold.jsonl (b1..b9)"
        WEIGHTS_PATH.write_text(to_json(area, urgency, best, sources), encoding="utf-8")
        size = WEIGHTS_PATH.stat().st_size
        print(f"\nwrote {WEIGHTS_PATH.relative_to(ROOT)} ({size / 1024:.0f} KiB)")
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
