"""Finding 8 over HTTP: revocation (admins, by token or jti; 401 at once in every API process)
and tokens from an external OIDC issuer, verified with the keys of a JWKS URL served here."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from backend.core.security import tokens as token_module
from backend.core.security.tokens import issue_token
from backend.core.settings import settings
from tests.support.http import auth
from tests.support.processes import ApiProcess


@pytest.fixture(scope="module")
def second_api(services: Any) -> Iterator[ApiProcess]:
    """Another API process on the same Redis: revocations must reach it too."""
    api = ApiProcess().start()
    yield api
    api.stop()


def test_admin_revokes_a_token_and_every_api_process_refuses_it_at_once(
    app_client: Any, tokens: dict[str, str], second_api: ApiProcess
) -> None:
    victim = issue_token("mallory", "client")
    ping = {"name": "maintenance.ping"}
    assert app_client.get("/api/tasks", headers=auth(victim)).status_code == 200
    # A rate-limited route checks revocation in the limiter's round trip: not revoked yet.
    assert app_client.post("/api/tasks", json=ping, headers=auth(victim)).status_code == 202
    assert httpx.get(f"{second_api.url}/api/tasks", headers=auth(victim)).status_code == 200
    # Operators may not revoke; admins may.
    body = {"token": victim}
    refused = app_client.post("/api/auth/revoke", json=body, headers=auth(tokens["operator"]))
    assert refused.status_code == 403
    r = app_client.post("/api/auth/revoke", json=body, headers=auth(tokens["admin"]))
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] is True and 0 < r.json()["expires_in_s"] <= 3600 + 60
    assert app_client.get("/api/tasks", headers=auth(victim)).status_code == 401
    assert httpx.get(f"{second_api.url}/api/tasks", headers=auth(victim)).status_code == 401
    # Submissions too (the rate-limited routes verify the token first), in every process.
    assert app_client.post("/api/tasks", json=ping, headers=auth(victim)).status_code == 401
    r = httpx.post(f"{second_api.url}/api/tasks", json=ping, headers=auth(victim))
    assert r.status_code == 401


def test_revoke_by_jti_and_bad_requests(app_client: Any, tokens: dict[str, str]) -> None:
    victim = issue_token("mallory2", "client")
    jti = jwt.decode(victim, options={"verify_signature": False})["jti"]
    admin = auth(tokens["admin"])
    assert app_client.post("/api/auth/revoke", json={"jti": jti}, headers=admin).status_code == 200
    assert app_client.get("/api/tasks", headers=auth(victim)).status_code == 401
    for body in ({}, {"jti": "a", "token": victim}, {"token": "not-a-token-at-all"}):
        assert app_client.post("/api/auth/revoke", json=body, headers=admin).status_code == 422


class _Jwks(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture()
def oidc(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """An issuer: an RSA key whose public half a local HTTP server publishes as a JWKS."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    _Jwks.body = json.dumps({"keys": [jwk]}).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = "https://idp.example.test"
    monkeypatch.setattr(settings.auth, "oidc_issuer", issuer)
    monkeypatch.setattr(settings.auth, "oidc_jwks_url", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.setattr(settings.auth, "oidc_audience", "ltq-api")
    token_module._jwks_client.cache_clear()
    yield key, issuer
    server.shutdown()
    token_module._jwks_client.cache_clear()


def external_token(key: Any, issuer: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": issuer, "aud": "ltq-api", "sub": "carla@idp", "role": ["operator"],
            "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex, **claims}  # fmt: skip
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def test_tokens_from_an_oidc_issuer_are_verified_with_its_jwks(
    app_client: Any, tokens: dict[str, str], oidc: tuple[Any, str]
) -> None:
    key, issuer = oidc
    good = external_token(key, issuer)
    r = app_client.get("/api/tasks/stats", headers=auth(good))
    assert r.status_code == 200, r.text  # an operator, by the issuer's role claim
    # Signed by another key, for another audience, or a role we do not know: refused.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert (
        app_client.get("/api/tasks", headers=auth(external_token(other, issuer))).status_code == 401
    )
    wrong_aud = external_token(key, issuer, aud="someone-else")
    assert app_client.get("/api/tasks", headers=auth(wrong_aud)).status_code == 401
    no_role = external_token(key, issuer, role=["superuser"])
    assert app_client.get("/api/tasks", headers=auth(no_role)).status_code == 401
    # And they can be revoked like ours.
    admin = auth(tokens["admin"])
    assert (
        app_client.post("/api/auth/revoke", json={"token": good}, headers=admin).status_code == 200
    )
    assert app_client.get("/api/tasks/stats", headers=auth(good)).status_code == 401
