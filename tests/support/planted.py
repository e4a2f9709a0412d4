"""Planted personal values, planted through the API, and a byte search of everything the
platform writes to disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.http import auth
from tests.support.waiting import wait_for_state

CPF = "111.444.777-35"
EMAIL = "maria.plantada@example.org"
SENTENCE = "Joana Plantada tem epilepsia e sofreu violencia domestica em Sorocaba"


def needles(cpf: str = CPF, email: str = EMAIL, sentence: str = SENTENCE) -> dict[str, bytes]:
    digits = "".join(ch for ch in cpf if ch.isdigit())
    return {
        "cpf": cpf.encode(),
        "cpf_digits": digits.encode(),
        "email": email.encode(),
        "sentence": sentence.encode(),
        "sentence_part": sentence.split()[1].encode() + b" " + sentence.split()[2].encode(),
    }


def search(roots: list[Path], wanted: dict[str, bytes]) -> dict[str, list[str]]:
    """Which wanted values occur, as bytes, in which files under `roots` ({name: [paths]})."""
    found: dict[str, list[str]] = {}
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for name, needle in wanted.items():
                if needle in data or needle.lower() in data.lower():
                    found.setdefault(name, []).append(str(path))
    return found


def plant(
    client: Any, token: str, service: Any, *, cpf: str = CPF, email: str = EMAIL,
    sentence: str = SENTENCE,
) -> dict[str, str]:  # fmt: skip
    """A case (triaged) and a document (analysed) holding the values, through the API as
    their owner; the ids of the case, the document and the triage task."""
    description = f"Meu CPF é {cpf}, meu e-mail {email}. {sentence}."
    case = client.post(
        "/api/triage",
        json={"title": f"Caso de {sentence[:40]}", "description": description,
              "client_email": email},
        headers=auth(token),
    )  # fmt: skip
    assert case.status_code == 202, case.text
    case_id, triage_task = case.json()["case_id"], case.json()["task_id"]
    assert wait_for_state(service.status.get, triage_task, {"SUCCESS"}, 60)["state"] == "SUCCESS"
    document = client.post(
        "/api/documents",
        data={"case_id": case_id},
        files={"file": (f"{email}.txt", description.encode(), "text/plain")},
        headers=auth(token),
    )
    assert document.status_code == 202, document.text
    document_id = document.json()["document_id"]
    record = wait_for_state(service.status.get, document.json()["task_id"], {"SUCCESS"}, 60)
    assert record["state"] == "SUCCESS", record
    return {"case_id": case_id, "document_id": document_id, "triage_task": triage_task}
