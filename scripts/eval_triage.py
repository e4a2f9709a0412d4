"""Evaluate the triage engine on a labelled JSONL file.

    PYTHONPATH=. python scripts/eval_triage.py FILE.jsonl [--misses]

Each line needs `title`, `description`, `area` and `urgency` (or `writer_area` /
`writer_urgency`), and optionally `submitted_at` (ISO date; without it, today). Prints per-field
accuracy, the urgency confusion matrix, recall and precision of `critical`, macro-F1 and the
number of critical cases rated below high.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from backend.domain.triage import classify_case

URGENCIES = ("low", "normal", "high", "critical")
_LEVEL = {level: i for i, level in enumerate(URGENCIES)}


def load_cases(path: Path) -> list[dict[str, str]]:
    cases = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            case = json.loads(line)
            case.setdefault("area", case.get("writer_area", ""))
            case.setdefault("urgency", case.get("writer_urgency", ""))
            cases.append(case)
    return cases


def macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Iterable[str]) -> float:
    scores = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def figures(
    gold_area: Sequence[str],
    pred_area: Sequence[str],
    gold_urgency: Sequence[str],
    pred_urgency: Sequence[str],
) -> dict[str, float]:
    """Area and urgency accuracy, macro-F1, critical recall/precision, critical below high."""
    n = len(gold_urgency)
    area_acc = sum(g == p for g, p in zip(gold_area, pred_area, strict=True)) / n
    urgency_acc = sum(g == p for g, p in zip(gold_urgency, pred_urgency, strict=True)) / n
    pairs = list(zip(gold_urgency, pred_urgency, strict=True))
    tp = sum(g == p == "critical" for g, p in pairs)
    gold_critical = sum(g == "critical" for g, _ in pairs)
    pred_critical = sum(p == "critical" for _, p in pairs)
    recall = tp / gold_critical if gold_critical else 1.0
    precision = tp / pred_critical if pred_critical else 1.0
    below_high = sum(g == "critical" and _LEVEL[p] < _LEVEL["high"] for g, p in pairs)
    f1 = macro_f1(gold_urgency, pred_urgency, URGENCIES)
    return {
        "cases": float(n),
        "area": area_acc,
        "urgency": urgency_acc,
        "macro_f1": f1,
        "critical_recall": recall,
        "critical_precision": precision,
        "critical_below_high": float(below_high),
    }


def report(
    gold_area: Sequence[str],
    pred_area: Sequence[str],
    gold_urgency: Sequence[str],
    pred_urgency: Sequence[str],
) -> dict[str, float]:
    """The figures, as a dict, after printing them."""
    result = figures(gold_area, pred_area, gold_urgency, pred_urgency)
    n = len(gold_urgency)
    area_acc, urgency_acc, f1 = result["area"], result["urgency"], result["macro_f1"]
    recall, precision = result["critical_recall"], result["critical_precision"]
    below_high = int(result["critical_below_high"])
    pairs = list(zip(gold_urgency, pred_urgency, strict=True))
    print(f"cases {n}")
    print(f"area accuracy     {area_acc:.3f}")
    print(f"urgency accuracy  {urgency_acc:.3f}")
    print(f"urgency macro-F1  {f1:.3f}")
    print(f"critical recall   {recall:.3f}  precision {precision:.3f}")
    print(f"critical rated below high: {below_high}")
    print("confusion (rows gold, columns predicted):")
    print("            " + " ".join(f"{u:>8}" for u in URGENCIES))
    for g in URGENCIES:
        row = [sum(gg == g and pp == p for gg, pp in pairs) for p in URGENCIES]
        print(f"{g:>10}  " + " ".join(f"{c:>8}" for c in row))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--misses", action="store_true", help="list the cases got wrong")
    args = parser.parse_args(argv)
    cases = load_cases(args.path)
    pred_area, pred_urgency = [], []
    for case in cases:
        submitted = case.get("submitted_at")
        result = classify_case(
            case["title"],
            case["description"],
            submitted_at=date.fromisoformat(submitted) if submitted else None,
        )
        pred_area.append(result.area)
        pred_urgency.append(result.urgency)
        if args.misses and (result.area, result.urgency) != (case["area"], case["urgency"]):
            print(
                f"{case.get('id', '?')}: want {case['area']}/{case['urgency']}"
                f" got {result.area}/{result.urgency} | {case['title']}"
            )
    report([c["area"] for c in cases], pred_area, [c["urgency"] for c in cases], pred_urgency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
