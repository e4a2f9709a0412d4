"""The monitoring files under deploy/: alert rules, the Grafana dashboard, and promtool."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest
import yaml

from tests.support.environment import ROOT

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "ltq-platform.json"


def promtool() -> str:
    """promtool's path, or skip: Debian's `prometheus` package ships it (.ci/run installs it)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (apt-get install prometheus); alert rules untested")
    return path


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}


def dashboard_expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label names and functions left out)."""
    without_labels = re.sub(r"\{[^}]*\}", " ", expr)
    without_by = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", without_labels)
    return set(re.findall(r"\b(ltq_[a-z0-9_]+|up)\b", without_by))
