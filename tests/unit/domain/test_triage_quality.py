"""Accuracy of rule-based triage on the labelled cases in tests/data/triage_cases.jsonl.

Rules were tuned on the "tune" split only; "holdout" shows how they generalise.
"""

import json
from collections.abc import Callable
from pathlib import Path

from backend.domain.triage import classify_case

CASES_PATH = Path(__file__).resolve().parents[2] / "data" / "triage_cases.jsonl"
MIN_AREA_ACCURACY = 0.85
MIN_URGENCY_ACCURACY = 0.80


def _load_cases() -> list[dict[str, str]]:
    with CASES_PATH.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


Predictions = dict[str, dict[str, str]]


def _accuracy(cases: list[dict[str, str]], predicted: Predictions, key: str) -> float:
    return sum(predicted[case["id"]][key] == case[key] for case in cases) / len(cases)


def _predict(cases: list[dict[str, str]]) -> Predictions:
    predicted: Predictions = {}
    for case in cases:
        result = classify_case(case["title"], case["description"])
        predicted[case["id"]] = {"area": result.area, "urgency": result.urgency}
    return predicted


def test_dataset_is_well_formed() -> None:
    cases = _load_cases()
    assert len(cases) >= 100
    assert len({case["id"] for case in cases}) == len(cases)
    assert {case["area"] for case in cases} == {
        "trabalhista",
        "consumidor",
        "familia",
        "previdenciario",
        "criminal",
        "civil",
        "tributario",
        "empresarial",
        "imobiliario",
        "administrativo",
        "outro",
    }
    assert {case["urgency"] for case in cases} == {"low", "normal", "high", "critical"}
    assert [case["split"] for case in cases] == [
        "holdout" if index % 4 == 3 else "tune" for index in range(len(cases))
    ]


def test_triage_accuracy(record_property: Callable[[str, object], None]) -> None:
    cases = _load_cases()
    predicted = _predict(cases)
    splits = {
        "tune": [case for case in cases if case["split"] == "tune"],
        "holdout": [case for case in cases if case["split"] == "holdout"],
        "all": cases,
    }
    rows = {
        name: (len(items), *(_accuracy(items, predicted, key) for key in ("area", "urgency")))
        for name, items in splits.items()
    }
    table = ["split      n   area  urgency"]
    for name, (count, area, urgency) in rows.items():
        table.append(f"{name:<8} {count:>4}  {area:.3f}  {urgency:.3f}")
        record_property(f"{name}_area_accuracy", round(area, 3))
        record_property(f"{name}_urgency_accuracy", round(urgency, 3))
    misses = [
        f"  {case['id']} [{case['split']}] want {case['area']}/{case['urgency']}"
        f" got {predicted[case['id']]['area']}/{predicted[case['id']]['urgency']}"
        for case in cases
        if (predicted[case["id"]]["area"], predicted[case["id"]]["urgency"])
        != (case["area"], case["urgency"])
    ]
    print("\n" + "\n".join([*table, "misses:", *misses]))
    _, area_all, urgency_all = rows["all"]
    assert area_all >= MIN_AREA_ACCURACY
    assert urgency_all >= MIN_URGENCY_ACCURACY
