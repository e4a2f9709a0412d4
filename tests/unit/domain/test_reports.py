"""Operations report: aggregation per queue, failure ranking, CSV and HTML with SVG charts."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from backend.domain.charts import Series, bar_chart, nice_scale
from backend.domain.reports import (
    OperationsReport,
    TaskSample,
    build_report,
    format_duration,
    format_percent,
    render,
    render_csv,
    render_html,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _report(samples: list[TaskSample], since: datetime | None = None) -> OperationsReport:
    return build_report(
        period_hours=24,
        generated_at=NOW,
        task_data_since=since or NOW - timedelta(hours=24),
        cases_by_area={"trabalhista": 3, None: 1},
        cases_by_urgency={"high": 2, "low": 1, None: 1},
        samples=samples,
    )


TRIAGE, EMAIL = "triage.classify_case", "notifications.send_email"
SAMPLES = [
    *[TaskSample(TRIAGE, "triage", "SUCCESS", wait_ms=w, runtime_ms=10 * w) for w in range(1, 101)],
    TaskSample(TRIAGE, "triage", "FAILURE", wait_ms=5, error_type="ConnectionError"),
    TaskSample(EMAIL, "notifications", "FAILURE", error_type="ConnectionError"),
    TaskSample(EMAIL, "notifications", "FAILURE", error_type="SMTPDataError"),
    TaskSample(EMAIL, "notifications", "PENDING"),
]


def test_aggregates_per_queue_and_ranks_failures() -> None:
    report = _report(SAMPLES)
    queues = {q.queue: q for q in report.queues}
    assert [q.queue for q in report.queues][:5] == [
        "triage", "documents", "notifications", "reports", "maintenance"
    ]  # fmt: skip
    triage = queues["triage"]
    assert triage.counts == {"SUCCESS": 100, "FAILURE": 1}
    assert triage.success_rate == round(100 / 101, 4)
    assert triage.wait_ms["p50"] == 50 and triage.wait_ms["p99"] == 99
    # Runtime percentiles count successful runs only.
    assert triage.runtime_ms == {"p50": 500, "p95": 950, "p99": 990}
    assert queues["notifications"].success_rate == 0.0
    assert queues["documents"].total == 0 and queues["documents"].success_rate is None
    failures = report.failures
    assert [(f.error_type, f.count) for f in failures] == [
        ("ConnectionError", 2), ("SMTPDataError", 1)
    ]  # fmt: skip
    assert failures[0].task_names == ("notifications.send_email", "triage.classify_case")
    summary = report.summary()
    assert summary["cases"] == 4 and summary["tasks"] == 104
    assert summary["tasks_failed"] == 3 and summary["success_rate"] == round(100 / 103, 4)
    assert report.cases_by_area == {"trabalhista": 3, "pending": 1}


def test_csv_has_one_figure_per_row() -> None:
    rows = list(csv.reader(io.StringIO(render_csv(_report(SAMPLES)))))
    assert rows[0] == ["section", "key", "metric", "value"]
    assert all(len(row) == 4 for row in rows)
    assert ["queue", "triage", "wait_ms_p95", "95"] in rows
    assert ["failure", "ConnectionError", "count", "2"] in rows
    assert ["cases_by_area", "pending", "count", "1"] in rows
    assert ["task", "triage.classify_case", "count_success", "100"] in rows


def test_html_has_titled_charts_in_portuguese_and_escapes_labels() -> None:
    hostile = TaskSample("x", "triage", "FAILURE", error_type="<script>alert(1)</script>")
    page = render_html(_report([*SAMPLES, hostile]))
    assert page.startswith("<!doctype html>") and 'lang="pt-BR"' in page
    titles = re.findall(r"<svg[^>]*aria-label=\"([^\"]+)\"", page)
    assert titles == [
        "Casos recebidos por área",
        "Casos recebidos por urgência",
        "Tarefas por fila e estado",
        "Taxa de sucesso por fila (tarefas concluídas)",
        "Tempo de espera na fila até começar",
        "Tempo de execução (tarefas concluídas com sucesso)",
        "Falhas mais frequentes, por tipo de erro",
    ]
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Trabalhista" in page and "Ainda sem triagem" in page and "Sucesso" in page
    assert "registros de tarefas" not in page  # the whole period is covered


def test_html_says_when_task_data_covers_less_than_the_period() -> None:
    page = render_html(_report([], since=NOW - timedelta(hours=2)))
    assert "cobrem apenas o intervalo desde" in page
    assert "Nenhuma tarefa no período." in page


def test_render_refuses_unknown_format() -> None:
    with pytest.raises(ValueError, match="pdf"):
        render(_report([]), "pdf")


def test_bar_chart_scales_to_a_round_top_and_checks_series_length() -> None:
    assert nice_scale(120) == (120.0, 4)
    assert nice_scale(31) == (40.0, 4)
    assert nice_scale(0.97) == (1.0, 5)
    assert nice_scale(0) == (1.0, 5)
    svg = bar_chart(
        title="Título & teste",
        categories=["a", "b"],
        series=[Series("s1", [1, 3], "#000"), Series("s2", [4, 0], "#111")],
        stacked=True,
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title>Título &amp; teste</title>" in svg
    assert ">5<" in svg and ">3<" in svg  # each row's stacked total at its end
    with pytest.raises(ValueError):
        bar_chart(title="t", categories=["a"], series=[Series("s", [1, 2], "#000")])


def test_human_formats() -> None:
    assert format_duration(None) == "\u2013"
    assert format_duration(850) == "850 ms"
    assert format_duration(1200) == "1,2 s"
    assert format_duration(2000) == "2 s"
    assert format_duration(185_000) == "3 min 5 s"
    assert format_duration(7_800_000) == "2 h 10 min"
    assert format_percent(0.975) == "97,5 %"
    assert format_percent(1.0) == "100 %"
    assert format_percent(None) == "\u2013"
