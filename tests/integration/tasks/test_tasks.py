"""The real task on each queue, run by a real worker: triage, document analysis, e-mail over
a real SMTP server, operations report, retention purge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.core.db.models import Case, Document, Report
from backend.core.db.session import session_scope
from backend.platform.enqueue import CeleryTaskService
from tests.support.recipients import confirmed
from tests.support.waiting import wait_for_state


@pytest.fixture()
def service(redis_client: Any) -> CeleryTaskService:
    return CeleryTaskService(redis_client)


def make_case(title: str, description: str, email: str | None = None) -> str:
    with session_scope() as session:
        case = Case(owner="alice", title=title, description=description, client_email=email)
        session.add(case)
        session.flush()
        return case.id


def test_triage_classifies_and_stores_the_case(service: CeleryTaskService, worker: Any) -> None:
    case_id = make_case(
        "Meu filho foi preso ontem",
        "Meu filho foi preso em flagrante ontem à noite e ainda não teve audiência de custódia.",
    )
    task_id = service.enqueue("triage.classify_case", [case_id], owner="alice")
    record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS", record
    assert record["result"] == {
        "case_id": case_id, "area": "criminal", "urgency": "critical", "priority": "CRITICAL",
    }  # fmt: skip
    assert record["progress"]["current"] == 2
    with session_scope() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.status == "triaged"
        assert case.triage is not None and case.triage["reasons"]


def test_missing_case_fails_at_once_without_retries(
    service: CeleryTaskService, worker: Any
) -> None:
    task_id = service.enqueue("triage.classify_case", ["no-such-case"])
    record = wait_for_state(service.status.get, task_id, {"FAILURE"})
    assert record["attempts"] == 1
    assert record["error"]["type"] == "PermanentTaskError"


def test_document_analysis_extracts_validated_entities(
    service: CeleryTaskService, worker: Any
) -> None:
    text = (
        "EXCELENTÍSSIMO SENHOR DOUTOR JUIZ DE DIREITO. Fulano, CPF 529.982.247-25, vem requerer "
        "indenização de R$ 1.500,00. CPF inválido 111.222.333-44."
    )
    with session_scope() as session:
        document = Document(owner="alice", filename="peticao.txt", text=text, size_bytes=len(text))
        session.add(document)
        session.flush()
        document_id = document.id
    task_id = service.enqueue("documents.analyse_document", [document_id], owner="alice")
    record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS", record
    with session_scope() as session:
        stored = session.get(Document, document_id)
        assert stored is not None and stored.analysis is not None
        cpfs = [e["value"] for e in stored.analysis["entities"] if e["type"] == "cpf"]
    assert record["result"]["doc_type"] == "peticao_inicial"
    assert len(cpfs) == 1 and cpfs[0].replace(".", "").replace("-", "") == "52998224725"


def test_triage_notification_is_sent_exactly_once(
    service: CeleryTaskService, worker: Any, mailbox: Any
) -> None:
    confirmed("alice", "cliente@example.com")  # the confirmation flow: test_recipients.py
    case_id = make_case(
        "Plano de saúde negou cirurgia",
        "O plano de saúde negou a cobertura da cirurgia do meu pai.",
        email="cliente@example.com",
    )
    before = len(mailbox.messages)
    triage = service.enqueue("triage.classify_case", [case_id])
    # A case with a client e-mail gets its notification enqueued by the triage itself.
    first = wait_for_state(service.status.get, triage, {"SUCCESS"})["result"][
        "notification_task_id"
    ]
    assert wait_for_state(service.status.get, first, {"SUCCESS"})["result"]["sent"] is True
    # The same event again (a redelivery or a duplicate request) sends nothing more.
    second = service.enqueue("notifications.send_email", ["triage_completed", case_id])
    assert wait_for_state(service.status.get, second, {"SUCCESS"})["result"]["sent"] is False
    assert len(mailbox.messages) == before + 1
    message = mailbox.messages[-1]
    assert message["To"] == "cliente@example.com"
    assert message.is_multipart()


def test_operations_report_is_written(
    service: CeleryTaskService, worker_factory: Any, tmp_path: Path
) -> None:
    with session_scope() as session:
        report = Report(owner="olga", period_hours=24)
        session.add(report)
        session.flush()
        report_id = report.id
    task_id = service.enqueue("reports.generate_operations_report", [report_id], owner="olga")
    reports_worker = worker_factory(["reports"], concurrency=1)
    try:
        record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"})
    finally:
        reports_worker.stop()
    assert record["state"] == "SUCCESS", record
    with session_scope() as session:
        stored = session.get(Report, report_id)
        assert stored is not None and stored.status == "ready" and stored.path
        csv_text = Path(stored.path).read_text()
    assert csv_text.startswith("section,key,metric,value")
    assert "maintenance.ping" in csv_text or "triage.classify_case" in csv_text


def test_purge_drops_index_entries_of_expired_records(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    ghost = "00000000-dead-4000-8000-000000000000"
    redis_client.zadd(service.keys.index_all, {ghost: 1})
    redis_client.zadd(service.keys.index("owner", "ghost"), {ghost: 1})
    task_id = service.enqueue("maintenance.purge_expired")
    record = wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=60)
    assert record["result"]["task_records"]["index_entries_removed"] >= 2
    assert redis_client.zscore(service.keys.index_all, ghost) is None
