"""Operations report: figures for a period, rendered as CSV. Pure: callers gather the inputs."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OperationsReport:
    period_hours: int
    generated_at: str
    cases_by_area: Mapping[str, int] = field(default_factory=dict)
    cases_by_urgency: Mapping[str, int] = field(default_factory=dict)
    tasks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    queues: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        successes = sum(int(t.get("counts", {}).get("SUCCESS", 0)) for t in self.tasks.values())
        failures = sum(int(t.get("counts", {}).get("FAILURE", 0)) for t in self.tasks.values())
        done = successes + failures
        return {
            "period_hours": self.period_hours,
            "generated_at": self.generated_at,
            "cases": sum(self.cases_by_area.values()),
            "tasks_succeeded": successes,
            "tasks_failed": failures,
            "success_rate": round(successes / done, 4) if done else None,
        }


def _rows(report: OperationsReport) -> Sequence[Sequence[Any]]:
    rows: list[Sequence[Any]] = [("section", "key", "metric", "value")]
    for key, value in report.summary().items():
        rows.append(("summary", "", key, value))
    for area, count in sorted(report.cases_by_area.items()):
        rows.append(("cases_by_area", area, "count", count))
    for urgency, count in sorted(report.cases_by_urgency.items()):
        rows.append(("cases_by_urgency", urgency, "count", count))
    for name, stats in sorted(report.tasks.items()):
        for state, count in sorted(stats.get("counts", {}).items()):
            rows.append(("tasks", name, f"count_{state.lower()}", count))
        rows.append(("tasks", name, "success_rate", stats.get("success_rate")))
        for kind in ("runtime_ms", "wait_ms"):
            for point, value in (stats.get(kind) or {}).items():
                rows.append(("tasks", name, f"{kind}_{point}", value))
    for queue, info in sorted(report.queues.items()):
        rows.append(("queues", queue, "depth", info.get("depth")))
        rows.append(("queues", queue, "oldest_age_s", info.get("oldest_age_s")))
    return rows


def render_csv(report: OperationsReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in _rows(report):
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()
