import pytest
from jinja2 import UndefinedError

from backend.domain.notifications import EMAIL_KINDS, RenderedEmail, render_email

CONTEXTS: dict[str, dict[str, object]] = {
    "triage_completed": {
        "area": "familia",
        "urgency": "critical",
        "summary": "Meu companheiro me agrediu ontem.",
        "link": "https://app.exemplo.com.br/casos/42",
    },
    "document_analysed": {
        "document_name": "contrato.pdf",
        "doc_type": "contrato",
        "link": "https://app.exemplo.com.br/documentos/7",
    },
    "report_ready": {
        "report_name": "Operações - março/2024",
        "link": "https://app.exemplo.com.br/relatorios/3/download",
    },
    "task_failed": {
        "task_name": "triage.classify_case",
        "count": 12,
        "window_minutes": 5,
        "task_ids": ["3f2a9c1e", "77aa01bc"],
        "more": 10,
        "error_type": "TimeoutError",
        "error_message": "provedor não respondeu em 30s",
        "attempts": 5,
    },
    "batch_completed": {
        "batch_id": "9b1c",
        "total": 10,
        "done": 8,
        "failed": 2,
        "link": "https://app.exemplo.com.br/api/triage/batch/9b1c",
    },
    "recipient_confirmation": {
        "link": "https://app.exemplo.com.br/api/recipients/confirm?token=abc.1.x",
        "hours": 72,
    },
}


@pytest.mark.parametrize("kind", EMAIL_KINDS)
def test_every_kind_renders_subject_text_and_html(kind: str) -> None:
    email = render_email(kind, CONTEXTS[kind])
    assert isinstance(email, RenderedEmail)
    assert email.subject
    assert "\n" not in email.subject
    assert email.text.strip()
    assert email.html.lstrip().startswith("<!DOCTYPE html>")
    assert 'lang="pt-BR"' in email.html


def test_triage_completed_content() -> None:
    email = render_email("triage_completed", CONTEXTS["triage_completed"])
    assert email.subject == "Seu caso foi analisado: Família, urgência crítica"
    assert "Resumo: Meu companheiro me agrediu ontem." in email.text
    assert "https://app.exemplo.com.br/casos/42" in email.text
    assert '<a href="https://app.exemplo.com.br/casos/42">' in email.html


def test_task_failed_content_for_operators() -> None:
    email = render_email("task_failed", CONTEXTS["task_failed"])
    assert email.subject == "[falha] 12 execução(ões) de triage.classify_case falharam em 5 min"
    assert "TimeoutError: provedor não respondeu em 30s" in email.text
    assert "- 3f2a9c1e\n- 77aa01bc\n... e mais 10." in email.text
    assert "3f2a9c1e" in email.html and "e mais 10" in email.html


def test_html_is_escaped_but_text_is_not() -> None:
    context = {**CONTEXTS["triage_completed"], "summary": "<script>alert(1)</script> & cia"}
    email = render_email("triage_completed", context)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; cia" in email.html
    assert "<script>alert(1)</script> & cia" in email.text


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown e-mail kind"):
        render_email("welcome", {})


def test_missing_variable_raises() -> None:
    context = dict(CONTEXTS["report_ready"])
    del context["report_name"]
    with pytest.raises(UndefinedError):
        render_email("report_ready", context)


def test_non_http_link_is_rejected() -> None:
    context = {**CONTEXTS["report_ready"], "link": "javascript:alert(1)"}
    with pytest.raises(ValueError, match="http"):
        render_email("report_ready", context)


def test_batch_completed_content() -> None:
    email = render_email("batch_completed", CONTEXTS["batch_completed"])
    assert email.subject == "Lote de triagem concluído: 8 de 10 casos triados"
    assert "Com falha: 2" in email.text and "Com falha: 2" in email.html
    assert 'href="https://app.exemplo.com.br/api/triage/batch/9b1c"' in email.html


def test_submitter_text_never_reaches_a_subject() -> None:
    """Finding 6: the document_analysed subject carried the uploaded file's name."""
    bait = "URGENTE pague o boleto em https://golpe.example/pix"
    email = render_email("document_analysed", {**CONTEXTS["document_analysed"],
                                               "document_name": bait})  # fmt: skip
    assert email.subject == "Documento analisado"
    for kind, context in CONTEXTS.items():
        poisoned = {
            k: (bait if k in ("summary", "document_name") else v) for k, v in context.items()
        }
        assert "golpe" not in render_email(kind, poisoned).subject


def test_submitter_text_in_bodies_is_shortened_one_line_and_links_are_defused() -> None:
    summary = "Clique\r\nBcc: vitima@example.com\n https://golpe.example/pix \u202e" + "x" * 500
    email = render_email("triage_completed", {**CONTEXTS["triage_completed"], "summary": summary})
    line = next(line for line in email.text.splitlines() if line.startswith("Resumo:"))
    assert "\r" not in line and "\u202e" not in line and "Bcc: vitima" in line  # one line
    assert "https://golpe" not in email.text and "https[:]//golpe" in email.text
    assert len(line) <= len("Resumo: ") + 200 and line.endswith("…")
    assert "https://golpe" not in email.html


def test_a_confirmation_carries_only_our_link() -> None:
    email = render_email("recipient_confirmation", CONTEXTS["recipient_confirmation"])
    link = "https://app.exemplo.com.br/api/recipients/confirm?token=abc.1.x"
    assert link in email.text and f'<a href="{link}">' in email.html.replace("&amp;", "&")
    assert "72 horas" in email.text and "confirme" in email.subject.lower()
