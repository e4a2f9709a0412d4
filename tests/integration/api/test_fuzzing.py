"""Fuzzing: schemathesis generates requests from the app's OpenAPI schema and sends them, with
each role's token, to a real API process. No 5xx, no answer outside the schema (status,
content type, body, RFC 3339 times), no stack trace in any response. Bounded: FUZZ_EXAMPLES
per operation (default 6), so `make test` stays quick; raise it for a deeper run."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    negative_data_rejection,
    positive_data_acceptance,
)

from tests.support.http import auth
from tests.support.processes import ApiProcess

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
# Users of their own: an erasure (DELETE /api/me) or a revocation the fuzzer sends must not
# touch the users other tests rely on.
ROLES = ("fuzz-client", "fuzz-operator", "fuzz-admin")
_TRACES = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.", " object at 0x")
# What is checked is every *answer*. Left out: how strict request validation is in either
# direction (our validation is stricter than a JSON schema says: an unknown task name is a
# string, answered 422; and pydantic coerces "1" to 1.0 or an epoch to a time, which a
# schema calls the wrong type), and the Allow header when a generated id equals a sibling
# route's literal segment (/api/tasks/{task_id} with task_id "stats").
EXCLUDED = [positive_data_acceptance, negative_data_rejection, allow_header_conformance]


def _schema() -> Any:
    # Built at collection from the app itself (schemathesis' lazy fixture loader does not work
    # with pytest 9); the requests go to a real API process.
    from backend.api.app import app

    return schemathesis.openapi.from_dict(app.openapi())


schema = _schema()


@pytest.fixture(scope="module")
def fuzz_api(services: Any) -> Iterator[ApiProcess]:
    api = ApiProcess().start()
    yield api
    api.stop()


@functools.cache
def fuzz_tokens() -> dict[str, str]:
    """Tokens of the fuzzer's own users (not a fixture: the schemathesis-wrapped test below
    cannot ask for one)."""
    from backend.core.security.tokens import issue_token

    return {
        "fuzz-client": issue_token("fuzz-client", "client"),
        "fuzz-operator": issue_token("fuzz-operator", "operator"),
        "fuzz-admin": issue_token("fuzz-admin", "admin"),
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_within_its_schema(case: Any, fuzz_api: ApiProcess) -> None:
    for role in ROLES:
        headers = auth(fuzz_tokens()[role])
        response = case.call(base_url=fuzz_api.url, headers=headers, timeout=30)
        body = response.content  # bytes: some answers are zip files
        assert response.status_code < 500, (role, response.status_code, body[:500])
        # The one place a stack trace is shown: a dead letter's, to an admin who asks for the
        # raw entries (audited).
        raw_dead_letters = (
            case.path == "/api/tasks/dead-letter"
            and role == "fuzz-admin"
            and (str((case.query or {}).get("raw", "")).lower() in ("true", "1", "yes", "on"))
        )
        if not raw_dead_letters:
            assert not any(t.encode() in body for t in _TRACES), body[:500]
        case.validate_response(response, excluded_checks=EXCLUDED, headers=headers)


def test_stored_rows_answer_with_offset_timestamps_within_the_schema(
    app_client: Any, tokens: dict[str, str]
) -> None:
    """Before: cases' and documents' times came back without an offset (SQLite keeps none)."""
    alice = auth(tokens["alice"])
    case_id = app_client.post(
        "/api/triage", json={"title": "Despejo", "description": "Aluguel"}, headers=alice
    ).json()["case_id"]
    files = {"file": ("a.txt", b"contrato de aluguel", "text/plain")}
    document_id = app_client.post(
        "/api/documents", data={"case_id": case_id}, files=files, headers=alice
    ).json()["document_id"]
    for path, template, fields in (
        (f"/api/triage/{case_id}", "/api/triage/{case_id}", ("created_at", "updated_at")),
        (f"/api/documents/{document_id}", "/api/documents/{document_id}", ("created_at",)),
    ):
        response = app_client.get(path, headers=alice)
        body = response.json()
        assert all(body[f].endswith(("Z", "+00:00")) for f in fields), body
        schema[template]["GET"].validate_response(response)


def test_the_fuzzing_covers_every_api_operation() -> None:
    paths = schema.raw_schema["paths"]
    assert {"/api/tasks", "/api/triage", "/api/audit", "/api/auth/revoke"} <= set(paths)
    assert "/metrics" not in paths  # Prometheus text, not part of the JSON API
