"""Every query of the alert rules and the Grafana dashboard names only metrics that /metrics
really exports (Prometheus' own `up` aside), and the dashboard covers every family."""

from __future__ import annotations

from typing import Any

from tests.support.http import auth
from tests.support.metrics import FAMILIES, families, family_of
from tests.support.monitoring import alert_expressions, dashboard_expressions, metric_names

PROMETHEUS_OWN = {"up"}


def test_queries_name_only_exported_metrics(
    app_client: Any, worker: Any, tokens: dict[str, str]
) -> None:
    exported = set(families(app_client.get("/metrics", headers=auth(tokens["operator"])).text))
    assert set(FAMILIES) <= exported
    queries = {f"alert {name}": expr for name, expr in alert_expressions().items()}
    queries.update({f"dashboard #{i}": e for i, e in enumerate(dashboard_expressions())})
    used: set[str] = set()
    for where, expr in queries.items():
        names = metric_names(expr)
        assert names, f"{where} selects no metric: {expr}"
        names -= PROMETHEUS_OWN
        for name in names:
            assert family_of(name) in exported, f"{where} uses {name}, not exported"
            used.add(family_of(name))
    # Every family the platform exports has a panel or a rule.
    assert set(FAMILIES) - used == set(), set(FAMILIES) - used
