"""POST /api/documents and GET /api/documents/{id} with a real worker, Redis and SMTP server.

Files are made here (tests/support/document_files.py): well-formed PDF, DOCX and text files are
analysed and stored; hostile ones fail their own task cleanly while the worker keeps serving;
bad uploads are refused with nothing stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from backend.adapters import file_store
from backend.core.db.models import Case, Document
from backend.core.db.session import session_scope
from backend.core.settings import settings
from backend.domain.parsing import DocumentKind
from backend.domain.parsing_ocr import ocr_available
from backend.platform.enqueue import CeleryTaskService
from tests.support import document_files as files
from tests.support.http import auth
from tests.support.recipients import confirmed
from tests.support.waiting import wait_for_state

PETICAO = (
    "EXCELENTÍSSIMO SENHOR DOUTOR JUIZ DE DIREITO DA 2ª VARA CÍVEL. MARIA DA SILVA, CPF "
    "529.982.247-25, vem, respeitosamente, propor AÇÃO DE INDENIZAÇÃO. Dos pedidos: requer a "
    "condenação do réu. Dá-se à causa o valor de R$ 10.000,00."
)


@pytest.fixture()
def service(redis_client: Any) -> CeleryTaskService:
    return CeleryTaskService(redis_client)


def make_case(owner: str = "alice", *, email: str | None = None, urgency: str | None = None) -> str:
    with session_scope() as session:
        case = Case(
            owner=owner,
            title="Ação de indenização",
            description="Cliente pede indenização por danos.",
            client_email=email,
            status="triaged" if urgency else "pending",
            urgency=urgency,
        )
        session.add(case)
        session.flush()
        return case.id


def upload(client: Any, token: str, case_id: str, data: bytes, name: str = "doc.bin") -> Any:
    return client.post(
        "/api/documents",
        data={"case_id": case_id},
        files={"file": (name, data, "application/octet-stream")},
        headers=auth(token),
    )


def stored_state() -> tuple[int, int]:
    """(document rows, files in the uploads folder): what a refused upload must not change."""
    with session_scope() as session:
        rows = session.scalar(select(func.count()).select_from(Document)) or 0
    uploads = settings.files.uploads_dir
    return rows, len(list(uploads.iterdir())) if uploads.exists() else 0


def analyse(
    client: Any, service: CeleryTaskService, token: str, data: bytes, name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Upload, wait for the task to finish; returns (task record, document as the API shows)."""
    response = upload(client, token, make_case(), data, name)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status_url"] == f"/api/documents/{body['document_id']}"
    record = wait_for_state(service.status.get, body["task_id"], {"SUCCESS", "FAILURE"})
    document = client.get(body["status_url"], headers=auth(token))
    assert document.status_code == 200, document.text
    return record, document.json()


def test_pdf_docx_and_text_are_analysed(
    app_client: Any, tokens: dict[str, str], worker: Any, service: CeleryTaskService
) -> None:
    pdf = files.text_pdf(
        [
            "Vistos. Trata-se de ação de cobrança. Processo 0001234-55.2023.8.26.0100.",
            "Fundamento e decido. DISPOSITIVO.",
            "Ante o exposto, JULGO PROCEDENTE o pedido. Publique-se. Intimem-se.",
        ]
    )
    docx = files.docx(
        ["CONTRATO DE PRESTAÇÃO DE SERVIÇOS", "CONTRATANTE: Empresa A. CONTRATADA: Empresa B.",
         "Cláusula primeira - do objeto."],
        pages=1,
    )  # fmt: skip
    cases = [
        # The name says .txt, the content is a PDF: the content wins.
        ("sentenca.txt", pdf, "application/pdf", "sentenca", 3),
        ("contrato.docx", docx, DocumentKind.DOCX.value, "contrato", 1),
        ("peticao.txt", PETICAO.encode("cp1252"), "text/plain", "peticao_inicial", None),
    ]
    for name, data, content_type, doc_type, pages in cases:
        record, document = analyse(app_client, service, tokens["alice"], data, name)
        assert record["state"] == "SUCCESS", record
        assert record["result"]["doc_type"] == doc_type
        assert document["status"] == "analysed"
        assert document["filename"] == name
        assert document["content_type"] == content_type
        assert document["size_bytes"] == len(data)
        analysis = document["analysis"]
        assert analysis["doc_type"] == doc_type
        assert analysis["page_count"] == pages
        assert analysis["text_length"] == len(document["text"]) > 0
        assert analysis["ocr_needed"] is False
        # Stored under its id, never under the user's name, sealed under the owner's key.
        stored = (settings.files.uploads_dir / document["document_id"]).read_bytes()
        assert data[:32] not in stored
        assert file_store.load(document["document_id"], owner="alice") == data
    entities = {e["type"]: e["value"] for e in analysis["entities"]}
    assert entities["cpf"] == "52998224725" and entities["money"] == "10000.00"


def test_pdf_without_text_layer_is_stored_with_ocr_flags(
    app_client: Any, tokens: dict[str, str], worker: Any, service: CeleryTaskService
) -> None:
    record, document = analyse(app_client, service, tokens["alice"], files.blank_pdf(2), "s.pdf")
    assert record["state"] == "SUCCESS", record
    analysis = document["analysis"]
    assert analysis["page_count"] == 2
    assert analysis["ocr"]["needed"] is True
    if not ocr_available(settings.parsing.ocr_language):
        assert analysis["ocr_needed"] is True and analysis["ocr"]["available"] is False
        assert record["result"]["ocr_needed"] is True


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("bomb.docx", lambda: files.zip_bomb_docx(1024**3), "suspicious_archive"),
        ("liar.docx", lambda: files.zip_bomb_docx(256 * 1024**2, lie_about_size=True),
         "unreadable_document"),
        ("pages.pdf", lambda: files.many_pages_pdf(10_000), "too_many_pages"),
        ("hidden-pages.pdf", lambda: files.understated_pages_pdf(10_000), "too_many_pages"),
        ("loop.pdf", files.looping_pdf, "unreadable_document"),
    ],
)  # fmt: skip
def test_hostile_files_fail_their_task_only(
    app_client: Any,
    tokens: dict[str, str],
    worker: Any,
    service: CeleryTaskService,
    name: str,
    make: Any,
    code: str,
) -> None:
    record, document = analyse(app_client, service, tokens["alice"], make(), name)
    assert record["state"] == "FAILURE", record
    assert record["attempts"] == 1  # permanent: not retried
    assert record["error"]["type"] == "PermanentTaskError"
    assert code in record["error"]["message"]
    assert document["status"] == "failed"
    assert document["error"].startswith(code)
    assert document["analysis"] is None
    # The worker that ran it is still there and serving.
    ping = service.enqueue("maintenance.ping")
    assert wait_for_state(service.status.get, ping, {"SUCCESS", "FAILURE"})["state"] == "SUCCESS"


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 64, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"MZ\x90\x00\x03\x00"],
)
def test_unsupported_content_is_refused_and_nothing_is_stored(
    app_client: Any, tokens: dict[str, str], data: bytes
) -> None:
    before = stored_state()
    response = upload(app_client, tokens["alice"], make_case(), data, "peticao.pdf")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert stored_state() == before


def test_oversize_uploads_get_413_and_nothing_is_stored(
    app_client: Any, tokens: dict[str, str]
) -> None:
    case_id = make_case()
    before = stored_state()
    # Just over the file limit: the body fits the upload body limit, the handler refuses it.
    just_over = b"a" * (settings.parsing.max_upload_bytes + 1)
    response = upload(app_client, tokens["alice"], case_id, just_over, "big.txt")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    # Far over: the middleware refuses the body from its declared length.
    far_over = b"a" * (settings.parsing.max_upload_bytes + 1024 * 1024)
    response = upload(app_client, tokens["alice"], case_id, far_over, "big.txt")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert stored_state() == before


def test_oversize_streamed_upload_without_length_gets_413(
    app_client: Any, tokens: dict[str, str]
) -> None:
    case_id = make_case()
    before = stored_state()
    boundary = "limite"

    def body() -> Any:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="case_id"\r\n\r\n{case_id}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        for _ in range(settings.parsing.max_upload_bytes // (1024 * 1024) + 2):
            yield b"a" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = app_client.post(
        "/api/documents",
        content=body(),  # chunked: no Content-Length to refuse up front
        headers={
            **auth(tokens["alice"]),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert stored_state() == before


def test_uploads_above_the_general_body_limit_are_accepted(
    app_client: Any, tokens: dict[str, str], worker: Any, service: CeleryTaskService
) -> None:
    data = (PETICAO + "\n").encode() * (settings.api.max_body_bytes // len(PETICAO) + 10)
    assert settings.api.max_body_bytes < len(data) < settings.parsing.max_upload_bytes
    record, document = analyse(app_client, service, tokens["alice"], data, "grande.txt")
    assert record["state"] == "SUCCESS", record
    assert document["size_bytes"] == len(data)


def test_bad_requests_are_refused_with_nothing_stored(
    app_client: Any, tokens: dict[str, str]
) -> None:
    alice_case = make_case("alice")
    before = stored_state()
    empty = upload(app_client, tokens["alice"], alice_case, b"", "vazio.txt")
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    no_case = app_client.post(
        "/api/documents",
        files={"file": ("a.txt", b"texto", "text/plain")},
        headers=auth(tokens["alice"]),
    )
    assert no_case.status_code == 422 and "case_id" in no_case.json()["error"]["message"]
    no_file = app_client.post(
        "/api/documents", data={"case_id": alice_case}, headers=auth(tokens["alice"])
    )
    assert no_file.status_code == 422
    unknown = upload(app_client, tokens["alice"], "no-such-case", b"texto", "a.txt")
    assert unknown.status_code == 404
    # Bob may not attach documents to Alice's case: it does not exist for him.
    foreign = upload(app_client, tokens["bob"], alice_case, b"texto", "a.txt")
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "case_not_found"
    anonymous = app_client.post(
        "/api/documents",
        data={"case_id": alice_case},
        files={"file": ("a.txt", b"texto", "text/plain")},
    )
    assert anonymous.status_code == 401
    assert stored_state() == before


def test_only_the_owner_and_operators_see_a_document(
    app_client: Any, tokens: dict[str, str], worker: Any, service: CeleryTaskService
) -> None:
    _, document = analyse(app_client, service, tokens["alice"], PETICAO.encode(), "p.txt")
    url = f"/api/documents/{document['document_id']}"
    bob = app_client.get(url, headers=auth(tokens["bob"]))
    assert bob.status_code == 404 and bob.json()["error"]["code"] == "document_not_found"
    assert "text" not in bob.text
    operator = app_client.get(url, headers=auth(tokens["operator"])).json()
    assert operator["text"] == PETICAO and operator["owner"] == "alice"
    missing = app_client.get("/api/documents/no-such-document", headers=auth(tokens["alice"]))
    assert missing.status_code == 404


def test_an_operator_upload_belongs_to_the_case_owner(
    app_client: Any, tokens: dict[str, str], worker: Any, service: CeleryTaskService
) -> None:
    response = upload(app_client, tokens["operator"], make_case("alice"), PETICAO.encode(), "p.txt")
    assert response.status_code == 202
    wait_for_state(service.status.get, response.json()["task_id"], {"SUCCESS"})
    mine = app_client.get(response.json()["status_url"], headers=auth(tokens["alice"]))
    assert mine.status_code == 200 and mine.json()["owner"] == "alice"
    # Alice can follow the task too.
    task = app_client.get(response.json()["task_url"], headers=auth(tokens["alice"]))
    assert task.status_code == 200


def test_analysis_enqueues_the_notification_with_the_case_urgency(
    app_client: Any,
    tokens: dict[str, str],
    worker: Any,
    service: CeleryTaskService,
    mailbox: Any,
) -> None:
    confirmed("alice", "cliente@example.com")  # the confirmation flow: test_recipients.py
    urgent = make_case(email="cliente@example.com", urgency="high")
    untriaged = make_case()
    expected = {urgent: "HIGH", untriaged: "NORMAL"}
    for case_id, priority in expected.items():
        before = len(mailbox.messages)
        response = upload(app_client, tokens["alice"], case_id, PETICAO.encode(), "p.txt")
        record = wait_for_state(service.status.get, response.json()["task_id"], {"SUCCESS"})
        follow_up = wait_for_state(
            service.status.get, record["result"]["notification_task_id"], {"SUCCESS", "FAILURE"}
        )
        assert follow_up["state"] == "SUCCESS", follow_up
        assert follow_up["name"] == "notifications.send_email"
        assert follow_up["priority"] == priority
        if case_id == urgent:
            assert follow_up["result"]["sent"] is True
            assert len(mailbox.messages) == before + 1
            assert mailbox.messages[-1]["To"] == "cliente@example.com"
        else:
            assert follow_up["result"]["sent"] is False  # no e-mail address on the case
