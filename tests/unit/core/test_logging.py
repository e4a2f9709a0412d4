"""Logs are JSON with tracebacks as text, and personal data is masked everywhere in them,
tracebacks included (library logs through the stdlib and our own structlog events alike)."""

from __future__ import annotations

import json
import logging

import pytest

from backend.core.logging import configure_logging, get_logger, scrub


def _fail() -> None:
    raise ValueError("cliente joao.silva@example.com, CPF 123.456.789-09, tel (11) 98765-4321")


@pytest.mark.parametrize("source", ["stdlib", "structlog"])
def test_a_traceback_is_logged_as_text_and_scrubbed(
    source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_output=True)
    try:
        _fail()
    except ValueError:
        if source == "stdlib":
            logging.getLogger("celery.worker").exception("Unrecoverable error")
        else:
            get_logger(__name__).exception("task_failed", note="para maria@example.org")
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    event = json.loads(line)
    assert event["level"] == "error"
    assert "Traceback (most recent call last)" in event["exception"]
    assert "ValueError" in event["exception"] and "_fail" in event["exception"]
    for secret in ("joao.silva@example.com", "123.456.789-09", "98765-4321", "maria@example.org"):
        assert secret not in line
    assert "<email>" in event["exception"] and "<cpf>" in event["exception"]


def test_scrub_masks_each_kind() -> None:
    text = scrub("a@b.com 123.456.789-09 12.345.678/0001-95 +55 11 91234-5678")
    assert text == "<email> <cpf> <cnpj> <phone>"
