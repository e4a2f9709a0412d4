"""Scoring a triage engine on labelled cases: the figures the quality targets are stated in."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

GOLD_PATH = Path(__file__).resolve().parents[1] / "data" / "triage_gold.jsonl"
URGENCIES = ("low", "normal", "high", "critical")

# The targets on held-out batches (issue: triage that holds on text nobody tuned for).
MIN_AREA = 0.95
MIN_URGENCY = 0.88
MIN_CRITICAL_RECALL = 0.95
MIN_CRITICAL_PRECISION = 0.85


def load_gold(split: str) -> list[dict[str, str]]:
    with GOLD_PATH.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if row["split"] == split]


@dataclass(frozen=True)
class Scores:
    n: int
    area: float
    urgency: float
    macro_f1: float
    critical_recall: float
    critical_precision: float
    critical_below_high: int
    confusion: dict[tuple[str, str], int]

    def table(self) -> str:
        lines = [
            f"cases {self.n}: area {self.area:.3f}, urgency {self.urgency:.3f}, "
            f"macro-F1 {self.macro_f1:.3f}, critical recall {self.critical_recall:.3f} "
            f"precision {self.critical_precision:.3f}, critical below high "
            f"{self.critical_below_high}",
            "urgency confusion (rows gold, columns predicted): " + " ".join(URGENCIES),
        ]
        for gold in URGENCIES:
            row = " ".join(f"{self.confusion.get((gold, p), 0):>4}" for p in URGENCIES)
            lines.append(f"  {gold:<9}{row}")
        return "\n".join(lines)

    def misses_targets(self) -> list[str]:
        misses = []
        if self.area < MIN_AREA:
            misses.append(f"area {self.area:.3f} < {MIN_AREA}")
        if self.urgency < MIN_URGENCY:
            misses.append(f"urgency {self.urgency:.3f} < {MIN_URGENCY}")
        if self.critical_recall < MIN_CRITICAL_RECALL:
            misses.append(f"critical recall {self.critical_recall:.3f} < {MIN_CRITICAL_RECALL}")
        if self.critical_precision < MIN_CRITICAL_PRECISION:
            misses.append(
                f"critical precision {self.critical_precision:.3f} < {MIN_CRITICAL_PRECISION}"
            )
        if self.critical_below_high:
            misses.append(f"{self.critical_below_high} critical case(s) rated below high")
        return misses


def score(
    cases: Sequence[dict[str, str]], predict: Callable[[dict[str, str]], tuple[str, str]]
) -> Scores:
    """`predict(case)` gives (area, urgency)."""
    predicted = [predict(case) for case in cases]
    gold_u = [case["urgency"] for case in cases]
    pred_u = [urgency for _, urgency in predicted]
    confusion = Counter(zip(gold_u, pred_u, strict=True))
    f1s = []
    for label in URGENCIES:
        tp = confusion[(label, label)]
        fp = sum(n for (g, p), n in confusion.items() if p == label and g != label)
        fn = sum(n for (g, p), n in confusion.items() if g == label and p != label)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    tp = confusion[("critical", "critical")]
    n = len(cases)
    return Scores(
        n=n,
        area=sum(case["area"] == area for case, (area, _) in zip(cases, predicted, strict=True))
        / n,
        urgency=sum(g == p for g, p in zip(gold_u, pred_u, strict=True)) / n,
        macro_f1=sum(f1s) / len(f1s),
        critical_recall=tp / max(1, gold_u.count("critical")),
        critical_precision=tp / max(1, pred_u.count("critical")),
        critical_below_high=sum(
            1
            for g, p in zip(gold_u, pred_u, strict=True)
            if g == "critical" and URGENCIES.index(p) < URGENCIES.index("high")
        ),
        confusion=dict(confusion),
    )
