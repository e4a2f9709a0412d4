"""The operations report: what came in and how the task platform handled it over a period.

Pure code: the caller gathers cases per area and urgency and one `TaskSample` per task record
of the period; `build_report` aggregates them per queue (counts by state, success rate, wait
and runtime percentiles) and ranks the failures; `render_csv` and `render_html` write it out.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from backend.domain.charts import Series, bar_chart
from backend.domain.labels import AREA_LABELS, URGENCY_LABELS
from backend.domain.stats import percentiles

REPORT_FORMATS = ("csv", "html")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}
STATES = ("PENDING", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE", "REVOKED")
STATE_LABELS = {
    "PENDING": "Na fila",
    "STARTED": "Em execução",
    "PROGRESS": "Em progresso",
    "RETRY": "Aguardando nova tentativa",
    "SUCCESS": "Sucesso",
    "FAILURE": "Falha",
    "REVOKED": "Cancelada",
}
_STATE_COLORS = {
    "PENDING": "#9ca3af",
    "STARTED": "#60a5fa",
    "PROGRESS": "#2563eb",
    "RETRY": "#f59e0b",
    "SUCCESS": "#16a34a",
    "FAILURE": "#dc2626",
    "REVOKED": "#7c3aed",
}
QUEUE_LABELS = {
    "triage": "Triagem",
    "documents": "Documentos",
    "notifications": "Notificações",
    "reports": "Relatórios",
    "maintenance": "Manutenção",
}
NOT_TRIAGED = "pending"
_URGENCY_ORDER = ("critical", "high", "normal", "low", NOT_TRIAGED)
TOP_FAILURES = 10
_MISSING = "\u2013"  # en dash: no figure

_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "reports"
_ENVIRONMENT = Environment(
    loader=FileSystemLoader(_TEMPLATE_DIR),
    autoescape=select_autoescape(enabled_extensions=("html",)),
    undefined=StrictUndefined,
)
_LOCAL_TZ: tzinfo
try:
    _LOCAL_TZ, _LOCAL_TZ_NAME = ZoneInfo("America/Sao_Paulo"), "horário de Brasília"
except ZoneInfoNotFoundError:  # no tz database on this host: show UTC rather than fail
    _LOCAL_TZ, _LOCAL_TZ_NAME = UTC, "UTC"


@dataclass(frozen=True, slots=True)
class TaskSample:
    """What the report needs of one task record."""

    name: str
    queue: str
    state: str
    wait_ms: int | None = None
    runtime_ms: int | None = None
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    counts: Mapping[str, int]
    success_rate: float | None
    wait_ms: Mapping[str, int | None]
    runtime_ms: Mapping[str, int | None]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class FailureCount:
    error_type: str
    count: int
    task_names: tuple[str, ...]


@dataclass(frozen=True)
class OperationsReport:
    period_hours: int
    generated_at: datetime
    # Task records expire (TASK_RECORD_TTL_S): task figures may cover less than the period.
    task_data_since: datetime
    cases_by_area: Mapping[str, int]
    cases_by_urgency: Mapping[str, int]
    queues: tuple[QueueStats, ...]
    tasks_by_name: Mapping[str, Mapping[str, int]]
    failures: tuple[FailureCount, ...]

    @property
    def period_start(self) -> datetime:
        return self.generated_at - timedelta(hours=self.period_hours)

    @property
    def task_data_partial(self) -> bool:
        return self.task_data_since > self.period_start

    def summary(self) -> dict[str, Any]:
        succeeded = sum(q.counts.get("SUCCESS", 0) for q in self.queues)
        failed = sum(q.counts.get("FAILURE", 0) for q in self.queues)
        return {
            "period_hours": self.period_hours,
            "generated_at": self.generated_at.isoformat(),
            "cases": sum(self.cases_by_area.values()),
            "tasks": sum(q.total for q in self.queues),
            "tasks_succeeded": succeeded,
            "tasks_failed": failed,
            "success_rate": _rate(succeeded, failed),
        }


def _rate(succeeded: int, failed: int) -> float | None:
    done = succeeded + failed
    return round(succeeded / done, 4) if done else None


def build_report(
    *,
    period_hours: int,
    generated_at: datetime,
    task_data_since: datetime,
    cases_by_area: Mapping[str | None, int],
    cases_by_urgency: Mapping[str | None, int],
    samples: Iterable[TaskSample],
    queue_names: Sequence[str] = tuple(QUEUE_LABELS),
    top_failures: int = TOP_FAILURES,
) -> OperationsReport:
    """Aggregate one period. Cases without an area or urgency yet count as NOT_TRIAGED."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    waits: dict[str, list[int]] = defaultdict(list)
    runtimes: dict[str, list[int]] = defaultdict(list)
    by_name: dict[str, Counter[str]] = defaultdict(Counter)
    failures: Counter[str] = Counter()
    failing_names: dict[str, set[str]] = defaultdict(set)
    for sample in samples:
        counts[sample.queue][sample.state] += 1
        by_name[sample.name][sample.state] += 1
        if sample.wait_ms is not None:
            waits[sample.queue].append(sample.wait_ms)
        if sample.state == "SUCCESS" and sample.runtime_ms is not None:
            runtimes[sample.queue].append(sample.runtime_ms)
        if sample.state == "FAILURE":
            error = sample.error_type or "desconhecido"
            failures[error] += 1
            failing_names[error].add(sample.name)
    ordered = list(queue_names) + sorted(q for q in counts if q not in queue_names)
    queues = tuple(
        QueueStats(
            queue=q,
            counts={s: counts[q][s] for s in STATES if counts[q][s]},
            success_rate=_rate(counts[q]["SUCCESS"], counts[q]["FAILURE"]),
            wait_ms=percentiles(waits[q]),
            runtime_ms=percentiles(runtimes[q]),
        )
        for q in ordered
    )
    ranked = sorted(failures.items(), key=lambda item: (-item[1], item[0]))[:top_failures]
    return OperationsReport(
        period_hours=period_hours,
        generated_at=generated_at,
        task_data_since=task_data_since,
        cases_by_area=_keyed(cases_by_area),
        cases_by_urgency=_keyed(cases_by_urgency),
        queues=queues,
        tasks_by_name={name: dict(c) for name, c in sorted(by_name.items())},
        failures=tuple(
            FailureCount(error, count, tuple(sorted(failing_names[error])))
            for error, count in ranked
        ),
    )


def _keyed(counts: Mapping[str | None, int]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for key, count in counts.items():
        out[key or NOT_TRIAGED] += int(count)
    return dict(out)


# --- CSV -------------------------------------------------------------------------------------


def _rows(report: OperationsReport) -> list[Sequence[Any]]:
    rows: list[Sequence[Any]] = [("section", "key", "metric", "value")]
    for key, value in report.summary().items():
        rows.append(("summary", "", key, value))
    rows.append(("summary", "", "period_start", report.period_start.isoformat()))
    rows.append(("summary", "", "task_data_since", report.task_data_since.isoformat()))
    for area, count in sorted(report.cases_by_area.items()):
        rows.append(("cases_by_area", area, "count", count))
    for urgency, count in sorted(report.cases_by_urgency.items()):
        rows.append(("cases_by_urgency", urgency, "count", count))
    for q in report.queues:
        rows.append(("queue", q.queue, "total", q.total))
        for state in STATES:
            rows.append(("queue", q.queue, f"count_{state.lower()}", q.counts.get(state, 0)))
        rows.append(("queue", q.queue, "success_rate", q.success_rate))
        for kind, points in (("wait_ms", q.wait_ms), ("runtime_ms", q.runtime_ms)):
            for point, value in points.items():
                rows.append(("queue", q.queue, f"{kind}_{point}", value))
    for name, states in report.tasks_by_name.items():
        for state, count in sorted(states.items()):
            rows.append(("task", name, f"count_{state.lower()}", count))
    for failure in report.failures:
        rows.append(("failure", failure.error_type, "count", failure.count))
        rows.append(("failure", failure.error_type, "tasks", " ".join(failure.task_names)))
    return rows


def render_csv(report: OperationsReport) -> str:
    """One row per figure (section, key, metric, value): easy to filter or pivot."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in _rows(report):
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


# --- HTML ------------------------------------------------------------------------------------


def format_count(value: float) -> str:
    return f"{int(value):,}".replace(",", ".")


def format_percent(rate: float | None) -> str:
    if rate is None:
        return _MISSING
    text = f"{rate * 100:.1f}".replace(".", ",")
    return f"{text.removesuffix(',0')} %"


def format_duration(ms: float | None) -> str:
    """Milliseconds as a person reads them: 850 ms, 1,2 s, 3 min 5 s, 2 h 10 min."""
    if ms is None:
        return _MISSING
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".", ",").replace(",0 s", " s")
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def format_when(moment: datetime) -> str:
    return moment.astimezone(_LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


def _label(labels: Mapping[str, str], code: str) -> str:
    return labels.get(code, code)


def _charts(report: OperationsReport) -> dict[str, Markup]:
    areas = sorted(report.cases_by_area.items(), key=lambda item: (-item[1], item[0]))
    urgencies = sorted(
        report.cases_by_urgency.items(),
        key=lambda item: _URGENCY_ORDER.index(item[0]) if item[0] in _URGENCY_ORDER else 99,
    )
    urgency_labels = {**URGENCY_LABELS, NOT_TRIAGED: "ainda sem triagem"}
    area_labels = {**AREA_LABELS, NOT_TRIAGED: "Ainda sem triagem"}
    queues = [q for q in report.queues if q.total]
    queue_names = [_label(QUEUE_LABELS, q.queue) for q in queues]
    states = [s for s in STATES if any(q.counts.get(s) for q in queues)]
    rated = [q for q in queues if q.success_rate is not None]

    def percentile_chart(title: str, attr: str, empty_message: str) -> str:
        """Median and p95 per queue of `attr` (wait_ms or runtime_ms), queues with data only."""
        stats = [q for q in queues if getattr(q, attr).get("p50") is not None]
        return bar_chart(
            title=title,
            categories=[_label(QUEUE_LABELS, q.queue) for q in stats],
            series=[
                Series(label, [float(getattr(q, attr).get(point) or 0) for q in stats], color)
                for point, label, color in (
                    ("p50", "mediana (p50)", "#2563eb"),
                    ("p95", "p95", "#93c5fd"),
                )
            ],
            value_format=format_duration,
            empty_message=empty_message,
        )

    charts = {
        "areas": bar_chart(
            title="Casos recebidos por área",
            categories=[_label(area_labels, a) for a, _ in areas],
            series=[Series("casos", [float(c) for _, c in areas], "#2563eb")],
            value_format=format_count,
            empty_message="Nenhum caso recebido no período.",
        ),
        "urgencies": bar_chart(
            title="Casos recebidos por urgência",
            categories=[_label(urgency_labels, u).capitalize() for u, _ in urgencies],
            series=[Series("casos", [float(c) for _, c in urgencies], "#f59e0b")],
            value_format=format_count,
            empty_message="Nenhum caso recebido no período.",
        ),
        "states": bar_chart(
            title="Tarefas por fila e estado",
            categories=queue_names,
            series=[
                Series(
                    STATE_LABELS[s], [float(q.counts.get(s, 0)) for q in queues], _STATE_COLORS[s]
                )
                for s in states
            ],
            stacked=True,
            value_format=format_count,
            empty_message="Nenhuma tarefa no período.",
        ),
        "success": bar_chart(
            title="Taxa de sucesso por fila (tarefas concluídas)",
            categories=[_label(QUEUE_LABELS, q.queue) for q in rated],
            series=[Series("sucesso", [float(q.success_rate or 0) for q in rated], "#16a34a")],
            value_format=format_percent,
            empty_message="Nenhuma tarefa concluída no período.",
        ),
        "wait": percentile_chart(
            "Tempo de espera na fila até começar", "wait_ms", "Nenhuma tarefa começou no período."
        ),
        "runtime": percentile_chart(
            "Tempo de execução (tarefas concluídas com sucesso)",
            "runtime_ms",
            "Nenhuma tarefa concluída no período.",
        ),
        "failures": bar_chart(
            title="Falhas mais frequentes, por tipo de erro",
            categories=[f.error_type for f in report.failures],
            series=[Series("falhas", [float(f.count) for f in report.failures], "#dc2626")],
            value_format=format_count,
            empty_message="Nenhuma falha no período.",
        ),
    }
    # bar_chart escapes every text it draws.
    return {name: Markup(svg) for name, svg in charts.items()}  # noqa: S704


def render_html(report: OperationsReport) -> str:
    """A self-contained page: headline figures, SVG charts and the tables behind them."""
    summary = report.summary()
    return _ENVIRONMENT.get_template("operations.html").render(
        report=report,
        summary=summary,
        charts=_charts(report),
        states=STATES,
        state_labels=STATE_LABELS,
        queue_label=lambda q: _label(QUEUE_LABELS, q),
        period_from=format_when(report.period_start),
        period_to=format_when(report.generated_at),
        data_since=format_when(report.task_data_since),
        tz_name=_LOCAL_TZ_NAME,
        count=format_count,
        percent=format_percent,
        duration=format_duration,
    )


def render(report: OperationsReport, report_format: str) -> str:
    if report_format == "csv":
        return render_csv(report)
    if report_format == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {report_format!r}")
