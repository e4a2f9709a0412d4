"""Triage quality on cases nobody tuned for: the held-out batches of tests/data/triage_gold.jsonl.

Batches are held out whole (written by other people than the development batches, labelled by
two independent annotators); the engine and its model were built on the development split
only. The figures and their history are in tests/data/triage/EVALUATION.md. Run with `-s` to
print them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from backend.domain.triage import classify_case
from tests.support.triage_eval import URGENCIES, Scores, load_gold, score

OLDER_CASES = Path(__file__).resolve().parents[2] / "data" / "triage_cases.jsonl"
AREAS = {
    "trabalhista", "consumidor", "familia", "previdenciario", "criminal", "civil",
    "tributario", "empresarial", "imobiliario", "administrativo", "outro",
}  # fmt: skip


def _rules(case: dict[str, str]) -> tuple[str, str]:
    submitted = case.get("submitted_at")
    result = classify_case(
        case["title"],
        case["description"],
        submitted_at=date.fromisoformat(submitted) if submitted else None,
    )
    return result.area, result.urgency


def test_gold_set_is_well_formed() -> None:
    dev, held_out = load_gold("dev"), load_gold("heldout")
    assert len(dev) + len(held_out) >= 400
    assert len({case["id"] for case in dev + held_out}) == len(dev) + len(held_out)
    for case in dev + held_out:
        assert case["area"] in AREAS and case["urgency"] in URGENCIES
        assert case["annotator_a"] and case["annotator_b"]
        date.fromisoformat(case["submitted_at"])
    # Whole batches, never split between dev and held-out.
    assert not {c["batch"] for c in dev} & {c["batch"] for c in held_out}


# What rules-v5 reached on the held-out batches b10 + b11 (tests/data/triage/EVALUATION.md): a
# change that loses ground there fails here, whatever it gains on the development data.
HELD_OUT_FLOOR = {
    "area": 0.95,
    "urgency": 0.86,
    "critical_recall": 0.9,
    "critical_precision": 0.94,
}
HELD_OUT_MAX_CRITICAL_BELOW_HIGH = 3


NO_HELD_OUT = pytest.mark.skipif(
    not load_gold("heldout"),
    reason="no held-out batch: every batch is development data (scored once each); add fresh "
    "batches and set these floors from their first score",
)


@NO_HELD_OUT
def test_rules_engine_holds_its_ground_on_held_out_batches(
    record_property: Callable[[str, object], None],
) -> None:
    scores = score(load_gold("heldout"), _rules)
    _record(record_property, "heldout", scores)
    print("\nheld-out batches\n" + scores.table())
    for field, floor in HELD_OUT_FLOOR.items():
        assert getattr(scores, field) >= floor, (field, getattr(scores, field), floor)
    assert scores.critical_below_high <= HELD_OUT_MAX_CRITICAL_BELOW_HIGH


@NO_HELD_OUT
@pytest.mark.xfail(
    strict=True,
    reason="rules-v5 does not reach the urgency and critical targets on b10 + b11 yet "
    "(EVALUATION.md); "
    "strict: when it does, this passes, fails the run, and the marker must go",
)
def test_rules_engine_meets_the_targets_on_held_out_batches() -> None:
    scores = score(load_gold("heldout"), _rules)
    assert not scores.misses_targets(), scores.misses_targets()


def test_rules_engine_on_development_data(record_property: Callable[[str, object], None]) -> None:
    """Reported only: the engine was built on these (in-sample figures)."""
    with OLDER_CASES.open(encoding="utf-8") as lines:
        older = [json.loads(line) for line in lines if line.strip()]
    scores = score(load_gold("dev") + older, _rules)
    _record(record_property, "dev", scores)
    print("\ndevelopment data (in-sample)\n" + scores.table())
    assert scores.n >= 500


def _record(record_property: Callable[[str, object], None], name: str, scores: Scores) -> None:
    for field in ("area", "urgency", "macro_f1", "critical_recall", "critical_precision"):
        record_property(f"{name}_{field}", round(getattr(scores, field), 3))
