"""Train the urgency model of the triage engine on the development cases only.

    PYTHONPATH=. python scripts/train_triage.py            # cross-validate, then write weights
    PYTHONPATH=. python scripts/train_triage.py --cv-only  # only the cross-validation figures

Development data: `tests/data/triage_cases.jsonl` (the older set, group "old") and batches
b1, b2 and b3: from `/work/triage-work/gold_dev.jsonl` (annotator labels) when that file exists,
else from `/work/triage-work/batches/b{1,2,3}.jsonl` (writer labels). Nothing else is read.

The model is a multinomial logistic regression over the named features of
`backend.domain.triage_model.features`, fitted by full-batch gradient descent with L2 (pure
Python, deterministic: the seed below only fixes the order of the cases). The L2 strength is
chosen by leave-one-group-out cross-validation over the four groups (old, b1, b2, b3), scoring
the whole engine (`decide_urgency`, rules included), and the figures of the chosen setting
are printed. The weights are then fitted on all development cases and written to
`backend/domain/triage_weights.json`. Rerunning gives the same file.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from backend.domain.triage import classify_area, decide_urgency
from backend.domain.triage_evidence import Evidence, gather
from backend.domain.triage_model import URGENCIES, WEIGHTS_PATH, LinearModel, features

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_triage import report

ROOT = Path(__file__).resolve().parents[1]
OLD_CASES = ROOT / "tests" / "data" / "triage_cases.jsonl"
WORK = Path("/work/triage-work")
GOLD_DEV = WORK / "gold_dev.jsonl"
DEV_BATCHES = ("b1", "b2", "b3")
# The older set has no submission dates; its texts only use relative ones.
OLD_SUBMITTED = date(2026, 1, 15)
SEED = 20260115
L2_GRID = (0.001, 0.003, 0.01, 0.03)
STEPS = 1500
LEARNING_RATE = 0.5


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
    if GOLD_DEV.exists():
        rows = [r for r in _read(GOLD_DEV) if r.get("batch") in DEV_BATCHES]
        for r in rows:
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
    else:
        for batch in DEV_BATCHES:
            for r in _read(WORK / "batches" / f"{batch}.jsonl"):
                cases.append(
                    Case(
                        r["id"],
                        batch,
                        r["title"],
                        r["description"],
                        date.fromisoformat(r["submitted_at"]),
                        r["writer_area"],
                        r["writer_urgency"],
                    )
                )
    return cases


@dataclass(frozen=True, slots=True)
class Prepared:
    case: Case
    area: str
    evidence: Evidence
    features: dict[str, float]


def prepare(cases: Sequence[Case]) -> list[Prepared]:
    out = []
    for case in cases:
        area = classify_area(case.title, case.description)[0]
        ev = gather(case.title, case.description, case.submitted_at)
        out.append(Prepared(case, area, ev, features(ev, area)))
    return out


def fit(rows: Sequence[Prepared], l2: float) -> LinearModel:
    """Multinomial logistic regression, full-batch gradient descent; deterministic."""
    names = sorted({name for row in rows for name in row.features})
    index = {name: i for i, name in enumerate(names)}
    k = len(URGENCIES)
    weights = [[0.0] * k for _ in names]
    bias = [0.0] * k
    data = [
        (
            [(index[n], v) for n, v in sorted(row.features.items())],
            URGENCIES.index(row.case.urgency),
        )
        for row in rows
    ]
    random.Random(SEED).shuffle(data)
    n = len(data)
    for _ in range(STEPS):
        grad_w = [[0.0] * k for _ in names]
        grad_b = [0.0] * k
        for feats, label in data:
            scores = list(bias)
            for i, v in feats:
                row = weights[i]
                for c in range(k):
                    scores[c] += row[c] * v
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            for c in range(k):
                delta = exps[c] / total - (1.0 if c == label else 0.0)
                grad_b[c] += delta
                for i, v in feats:
                    grad_w[i][c] += delta * v
        for c in range(k):
            bias[c] -= LEARNING_RATE * grad_b[c] / n
        for i in range(len(names)):
            for c in range(k):
                weights[i][c] -= LEARNING_RATE * (grad_w[i][c] / n + l2 * weights[i][c])
    return LinearModel(
        URGENCIES,
        {name: tuple(weights[i]) for name, i in index.items()},
        tuple(bias),
    )


def predict(rows: Sequence[Prepared], model: LinearModel) -> list[str]:
    return [decide_urgency(row.evidence, row.area, model).urgency for row in rows]


def cross_validate(rows: Sequence[Prepared], l2: float, *, show: bool) -> dict[str, float]:
    groups = sorted({row.case.group for row in rows})
    predicted: dict[str, str] = {}
    for group in groups:
        train = [row for row in rows if row.case.group != group]
        test = [row for row in rows if row.case.group == group]
        model = fit(train, l2)
        for row, urgency in zip(test, predict(test, model), strict=True):
            predicted[row.case.id] = urgency
        if show:
            print(f"\n--- held-out group {group} (trained on the others) ---")
            report(
                [r.case.area for r in test],
                [r.area for r in test],
                [r.case.urgency for r in test],
                [predicted[r.case.id] for r in test],
            )
    if show:
        print("\n=== leave-one-group-out, all groups pooled ===")
    return (
        report(
            [r.case.area for r in rows],
            [r.area for r in rows],
            [r.case.urgency for r in rows],
            [predicted[r.case.id] for r in rows],
        )
        if show
        else _quiet(rows, predicted)
    )


def _quiet(rows: Sequence[Prepared], predicted: Mapping[str, str]) -> dict[str, float]:
    hits = sum(predicted[r.case.id] == r.case.urgency for r in rows)
    return {"urgency": hits / len(rows)}


def to_json(model: LinearModel, l2: float, sources: str) -> str:
    data = {
        "about": "Urgency model of the triage engine; written by scripts/train_triage.py.",
        "trained_on": sources,
        "l2": l2,
        "classes": list(model.classes),
        "bias": [round(b, 6) for b in model.bias],
        "weights": {
            name: [round(w, 6) for w in row] for name, row in sorted(model.weights.items())
        },
    }
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cv-only", action="store_true")
    args = parser.parse_args(argv)
    cases = load_dev()
    sources = "gold_dev.jsonl" if GOLD_DEV.exists() else "writer labels of b1-b3"
    print(f"{len(cases)} development cases ({sources} + older set)")
    rows = prepare(cases)
    scores = {l2: cross_validate(rows, l2, show=False)["urgency"] for l2 in L2_GRID}
    for l2, score in scores.items():
        print(f"l2={l2:<6} leave-one-group-out urgency accuracy {score:.3f}")
    best = max(L2_GRID, key=lambda l2: (round(scores[l2], 3), l2))
    print(f"chosen l2={best}")
    cross_validate(rows, best, show=True)
    if not args.cv_only:
        WEIGHTS_PATH.write_text(to_json(fit(rows, best), best, sources), encoding="utf-8")
        print(f"\nwrote {WEIGHTS_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
