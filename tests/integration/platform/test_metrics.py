"""/metrics exports every promised family, counts what the worker did (the transition
script's counters and histograms in Redis), and no label carries personal data or an id."""

from __future__ import annotations

import re
import uuid
from typing import Any

from backend.platform.enqueue import CeleryTaskService
from tests.support.http import auth
from tests.support.metrics import FAMILIES, families, value
from tests.support.waiting import wait_for_state

LABELS = {"task", "queue", "state", "reason", "priority", "host", "worker", "service", "cause",
          "source", "method", "route", "status", "le"}  # fmt: skip
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def test_every_family_counts_what_the_workers_did(
    app_client: Any, redis_client: Any, worker: Any, tokens: dict[str, str]
) -> None:
    service = CeleryTaskService(redis_client)
    before = app_client.get("/metrics", headers=auth(tokens["operator"])).text
    key = uuid.uuid4().hex
    flaky = service.enqueue("testing.flaky", [key, 1])  # fails once, then succeeds
    failing = service.enqueue(
        "testing.always_fail", [uuid.uuid4().hex], retry_policy={"max_attempts": 1}
    )
    wait_for_state(service.status.get, flaky, {"SUCCESS"})
    wait_for_state(service.status.get, failing, {"FAILURE"})
    after = app_client.get("/metrics", headers=auth(tokens["operator"])).text

    assert set(FAMILIES) <= set(families(after)), set(FAMILIES) - set(families(after))
    for name, kind in FAMILIES.items():
        assert families(after)[name].type == kind, name

    def delta(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    flaky_labels = {"task": "testing.flaky", "queue": "maintenance"}
    assert delta("ltq_task_transitions_total", state="STARTED", **flaky_labels) == 2
    assert delta("ltq_task_transitions_total", state="RETRY", **flaky_labels) == 1
    assert delta("ltq_task_transitions_total", state="SUCCESS", **flaky_labels) == 1
    assert delta("ltq_task_retries_total", **flaky_labels) == 1
    # Wait: once per task (its first start). Run time: the attempt that ended it.
    assert delta("ltq_task_wait_seconds_count", task="testing.flaky") == 1
    assert delta("ltq_task_run_seconds_count", task="testing.flaky") == 1
    assert delta("ltq_task_run_seconds_bucket", task="testing.flaky", le="+Inf") == 1
    assert delta("ltq_task_run_seconds_sum", task="testing.flaky") >= 0
    assert delta("ltq_task_failures_total", task="testing.always_fail", reason="RuntimeError") == 1
    assert delta("ltq_dead_letters_waiting", queue="maintenance", reason="failed") == 1
    assert value(after, "ltq_workers_live") >= 1
    assert value(after, "ltq_worker_pool_processes", worker=worker.hostname) == 2
    assert value(after, "ltq_scrape_error", source="redis") == 0
    assert value(after, "ltq_scrape_error", source="database") == 0
    assert value(after, "ltq_queue_depth", queue="triage", priority="CRITICAL") >= 0
    # Histogram buckets are cumulative.
    buckets = [
        s.value
        for s in families(after)["ltq_task_run_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["task"] == "testing.flaky"
    ]
    assert buckets == sorted(buckets) and len(buckets) == 19


def test_no_label_carries_a_user_an_email_an_id_or_free_text(
    app_client: Any, tokens: dict[str, str], worker: Any
) -> None:
    r = app_client.post(
        "/api/triage",
        headers=auth(tokens["alice"]),
        json={
            "title": "Despejo de Maria, CPF 123.456.789-09",
            "description": "Cliente maria.silva@example.com, telefone (11) 98765-4321, "
            "recebeu ordem de despejo ontem.",
            "client_email": "maria.silva@example.com",
        },
    )
    assert r.status_code == 202
    case_id, task_id = r.json()["case_id"], r.json()["task_id"]
    app_client.get(f"/api/tasks/{task_id}", headers=auth(tokens["alice"]))
    app_client.get(f"/api/triage/{case_id}", headers=auth(tokens["alice"]))
    text = app_client.get("/metrics", headers=auth(tokens["operator"])).text
    for family in families(text).values():
        for sample in family.samples:
            assert set(sample.labels) <= LABELS, (sample.name, sample.labels)
            for label, shown in sample.labels.items():
                assert not _UUID.search(shown), (sample.name, label, shown)
                assert not _EMAIL.search(shown), (sample.name, label, shown)
                assert "alice" not in shown and "olga" not in shown, (sample.name, shown)
                assert not re.search(r"\s|\d{3}\.\d{3}", shown), (sample.name, label, shown)
    # The request was counted under its route template, not its path.
    assert value(text, "ltq_http_requests_total", route="/api/tasks/{task_id}") >= 1
