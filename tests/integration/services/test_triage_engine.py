"""The LLM triage engine against a real local HTTP server (OpenAI-compatible shape) that
answers valid JSON, invalid JSON, JSON outside the schema, HTTP 500, or too late; every
failure falls back to the rules engine and says why, and the shared "llm" breaker (Redis)
stops calling, in this process and in a worker's."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from limits import parse

from backend.adapters.llm import LLM_SERVICE, LLMClient
from backend.core.db.models import Case
from backend.core.db.session import session_scope
from backend.core.keys import keys
from backend.core.settings import settings
from backend.resilience.breakers import BreakerPolicy
from backend.services.triage_engine import triage
from tests.support.processes import triage_on_own_worker

TITLE = "Fui demitido e não recebi nada"
DESCRIPTION = "A empresa me demitiu sem justa causa e não pagou as verbas rescisórias."
VALID = {
    "area": "trabalhista",
    "urgency": "high",
    "complexity": 3,
    "confidence": 0.9,
    "summary": "Demissão sem pagamento das verbas rescisórias.",
    "reasons": [{"field": "area", "signal": "demissão", "quote": "A empresa me demitiu"}],
}


class FakeModel:
    """What the server answers next, and what it was asked."""

    def __init__(self) -> None:
        self.mode = "valid"
        self.requests: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    model: FakeModel

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        self.model.requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        mode = self.model.mode
        if mode == "slow":
            time.sleep(1.5)
        if mode == "http_500":
            self._send(500, b'{"error": "overloaded"}')
            return
        content = {
            "valid": json.dumps(VALID),
            "slow": json.dumps(VALID),
            "invalid_json": "Claro! A área é trabalhista.",
            "invalid_schema": json.dumps({**VALID, "area": "astrologia", "complexity": 9}),
        }[mode]
        payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        self._send(200, json.dumps(payload).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The client may have given up already (timeout test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.fixture()
def fake_model() -> Iterator[tuple[FakeModel, str]]:
    model = FakeModel()
    handler = type("BoundHandler", (Handler,), {"model": model})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield model, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def closed_breaker(clean_redis: Any) -> None:
    """Every test starts with the shared "llm" breaker closed and its rate limit unused."""


def client_for(url: str) -> LLMClient:
    return LLMClient(base_url=url, model="test-model", api_key="sk-test", timeout_s=0.5)


def breaker_state(client: Any) -> str:
    return str(client.hget(keys.breaker(LLM_SERVICE), "state") or "closed")


def test_valid_answer_is_used(fake_model: tuple[FakeModel, str]) -> None:
    model, url = fake_model
    result = triage(TITLE, DESCRIPTION, engine="llm", client=client_for(url))
    assert result["engine"] == "llm:test-model" and "fallback_reason" not in result
    assert (result["area"], result["urgency"], result["complexity"]) == ("trabalhista", "high", 3)
    [request] = model.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "test-model"
    assert request["body"]["response_format"] == {"type": "json_object"}
    assert DESCRIPTION in request["body"]["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("invalid_json", "llm_invalid_json"),
        ("invalid_schema", "llm_invalid_schema"),
        ("http_500", "llm_http_error"),
        ("slow", "llm_timeout"),
    ],
)
def test_unusable_answers_fall_back_to_the_rules(
    fake_model: tuple[FakeModel, str], mode: str, reason: str
) -> None:
    model, url = fake_model
    model.mode = mode
    result = triage(TITLE, DESCRIPTION, engine="llm", client=client_for(url))
    assert result["engine"] == "rules-v5"
    assert result["fallback_reason"] == reason
    assert result["area"] == "trabalhista"  # the rules' own answer
    assert len(model.requests) == 1


def test_unreachable_model_falls_back() -> None:
    client = client_for("http://127.0.0.1:9/v1")  # discard port: nothing listens
    result = triage(TITLE, DESCRIPTION, engine="llm", client=client)
    assert (result["engine"], result["fallback_reason"]) == ("rules-v5", "llm_unavailable")


def test_open_breaker_stops_calling_the_model(
    fake_model: tuple[FakeModel, str], clean_redis: Any
) -> None:
    model, url = fake_model
    client = client_for(url)
    fail_max = BreakerPolicy.for_service(LLM_SERVICE).fail_max
    # Invalid content is the model's fault, not the service's: it does not open the breaker.
    model.mode = "invalid_json"
    for _ in range(fail_max + 1):
        result = triage(TITLE, DESCRIPTION, engine="llm", client=client)
        assert result["fallback_reason"] == "llm_invalid_json"
    assert breaker_state(clean_redis) == "closed"
    model.mode = "http_500"
    reasons = [
        triage(TITLE, DESCRIPTION, engine="llm", client=client)["fallback_reason"]
        for _ in range(fail_max + 2)
    ]
    assert reasons == ["llm_http_error"] * fail_max + ["llm_breaker_open"] * 2
    assert len(model.requests) == 2 * fail_max + 1
    assert breaker_state(clean_redis) == "open"


def test_open_breaker_falls_back_without_using_the_rate_limit(
    fake_model: tuple[FakeModel, str], clean_redis: Any
) -> None:
    """Calls refused by the breaker take no slot of the shared "llm" limit: more fallbacks than
    the limit allows are all immediate, none deferred."""
    model, url = fake_model
    model.mode = "http_500"
    client = client_for(url)
    for _ in range(BreakerPolicy.for_service(LLM_SERVICE).fail_max):
        triage(TITLE, DESCRIPTION, engine="llm", client=client)
    assert breaker_state(clean_redis) == "open"
    over_the_limit = parse(settings.limits.rate_limits[LLM_SERVICE]).amount + 1
    reasons = {
        triage(TITLE, DESCRIPTION, engine="llm", client=client)["fallback_reason"]
        for _ in range(over_the_limit)
    }
    assert reasons == {"llm_breaker_open"}


def test_breaker_opened_here_makes_a_worker_fall_back_without_calling(
    fake_model: tuple[FakeModel, str], clean_redis: Any, worker_factory: Any
) -> None:
    """Failures in this process open the shared breaker; a worker process's triage then falls
    back at once: the model's server sees no request from it."""
    model, url = fake_model
    model.mode = "http_500"
    for _ in range(BreakerPolicy.for_service(LLM_SERVICE).fail_max):
        triage(TITLE, DESCRIPTION, engine="llm", client=client_for(url))
    assert breaker_state(clean_redis) == "open"
    calls_before = len(model.requests)

    with session_scope() as session:
        case = Case(owner="llm-test", title=TITLE, description=DESCRIPTION)
        session.add(case)
        session.flush()
        case_id = case.id
    env = {"TRIAGE_ENGINE": "llm", "LLM_URL": url, "LLM_TIMEOUT_S": "0.5"}
    record = triage_on_own_worker(worker_factory, clean_redis, case_id, env)
    assert record["state"] == "SUCCESS" and record["attempts"] == 1
    with session_scope() as session:
        stored = session.get(Case, case_id)
        assert stored is not None and stored.triage is not None
        triaged = dict(stored.triage)
    assert (triaged["engine"], triaged["fallback_reason"]) == ("rules-v5", "llm_breaker_open")
    assert len(model.requests) == calls_before


def test_rules_engine_never_calls_the_model(fake_model: tuple[FakeModel, str]) -> None:
    model, url = fake_model
    result = triage(TITLE, DESCRIPTION, engine="rules", client=client_for(url))
    assert result["engine"] == "rules-v5" and "fallback_reason" not in result
    assert model.requests == []
