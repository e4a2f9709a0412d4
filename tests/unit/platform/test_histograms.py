"""Histogram buckets as the transition script keeps them, read back as Prometheus expects."""

from __future__ import annotations

from pathlib import Path

from backend.platform import histograms
from backend.platform.metrics import safe_label
from backend.platform.status import transition_script


def test_cumulative_buckets_and_sum() -> None:
    counts = [0] * (len(histograms.BUCKETS_S) + 1)
    counts[0] = 2  # two at <= 5 ms
    counts[3] = 1  # one at <= 50 ms
    counts[-1] = 1  # one past an hour
    hist = histograms.parse({**{str(i): str(n) for i, n in enumerate(counts)}, "sum": "4000123"})
    pairs = hist.cumulative()
    assert pairs[0] == ("0.005", 2)
    assert pairs[3] == ("0.05", 3)
    assert pairs[-1] == ("+Inf", 4) and hist.count == 4
    assert [n for _, n in pairs] == sorted(n for _, n in pairs)  # cumulative never decreases
    assert hist.sum_s == 4000.123


def test_quantiles_interpolate_inside_the_bucket() -> None:
    counts = [0] * (len(histograms.BUCKETS_S) + 1)
    counts[4] = 10  # ten between 50 and 100 ms
    hist = histograms.Histogram(counts, 750)
    assert hist.quantile_ms(0.5) == 75
    assert hist.quantile_ms(1.0) == 100
    assert histograms.Histogram([0] * len(counts), 0).percentiles_ms() == {
        "p50": None, "p95": None, "p99": None,
    }  # fmt: skip


def test_the_script_gets_the_same_bounds() -> None:
    source = transition_script()
    assert "--[[BOUNDS]]" not in source
    assert histograms.lua_bounds() in source
    raw = (Path(histograms.__file__).parent / "lua" / "transition.lua").read_text()
    assert raw.count("--[[BOUNDS]]") == 1


def test_labels_never_carry_free_text() -> None:
    assert safe_label("task", "triage.classify_case") == "triage.classify_case"
    assert safe_label("task", "maria@example.com") == "other"
    assert safe_label("error", "ConnectionError") == "ConnectionError"
    assert safe_label("error", "CPF 123.456.789-09 invalid") == "other"
    assert safe_label("word", "smtp") == "smtp"
    assert safe_label("word", "Bob Smith") == "other"
