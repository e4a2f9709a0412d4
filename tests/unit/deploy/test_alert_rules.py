"""deploy/prometheus: the alert rules load, and promtool's unit tests (alerts_test.yml) pass,
each rule with a firing and a non-firing case; the dashboard's queries parse as PromQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.support.monitoring import (
    PROMETHEUS_DIR,
    alert_expressions,
    dashboard_expressions,
    promtool,
)


def test_promtool_unit_tests_of_every_rule_pass() -> None:
    tool = promtool()
    check = subprocess.run(
        [tool, "check", "rules", "alerts.yml"], cwd=PROMETHEUS_DIR,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(
        [tool, "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS_DIR,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_rule_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    rules = set(alert_expressions())
    assert rules == firing, rules ^ firing
    assert rules == silent, rules ^ silent


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    tool = promtool()
    rules = {
        "groups": [{
            "name": "dashboard",
            "rules": [{"record": f"dashboard:q{i}", "expr": e}
                      for i, e in enumerate(dashboard_expressions())],
        }]
    }  # fmt: skip
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    check = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
