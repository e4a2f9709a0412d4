"""deploy/systemd: every unit restarts always, runs in production, keeps Celery's warm
shutdown, and gives a worker longer to stop than the longest task may run."""

from __future__ import annotations

import configparser

from backend.devtools.commands import WORKER_GROUPS
from backend.platform.catalogue import TASK_SPECS
from tests.support.environment import ROOT

UNITS = ROOT / "deploy" / "systemd"


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_every_unit_restarts_and_runs_in_production() -> None:
    names = sorted(p.name for p in UNITS.glob("*.service"))
    assert names == ["ltq-api.service", "ltq-beat.service", "ltq-flower.service",
                     "ltq-worker@.service"]  # fmt: skip
    for name in names:
        service = _unit(name)["Service"]
        assert service["Restart"] == "always", name
        assert "ENVIRONMENT=production" in service["Environment"], name
        assert service["EnvironmentFile"].startswith("/etc/ltq/"), name


def test_worker_stops_warm_and_outlasts_the_longest_task() -> None:
    service = _unit("ltq-worker@.service")["Service"]
    longest = max(spec.time_limit_s for spec in TASK_SPECS.values())
    assert int(service["TimeoutStopSec"]) > longest
    # SIGTERM to the main process only (warm shutdown), the group killed after the timeout.
    assert service["KillMode"] == "mixed" and service["KillSignal"] == "SIGTERM"
    assert "--autoscale=$${WORKER_AUTOSCALE_MAX},$${WORKER_AUTOSCALE_MIN}" in service["ExecStart"]
    for group, queues in WORKER_GROUPS.items():
        env = (UNITS / f"worker-{group}.env.example").read_text()
        assert f"WORKER_QUEUES={','.join(queues)}" in env


def test_api_merges_metrics_across_its_processes() -> None:
    service = _unit("ltq-api.service")["Service"]
    assert "--workers 2" in service["ExecStart"]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/ltq-api" in service["Environment"]
    assert service["RuntimeDirectory"] == "ltq-api"  # emptied at each start
