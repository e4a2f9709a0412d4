"""Finding 8: tokens carry and are checked for iss, aud, sub, role, iat, exp and jti; live at
most JWT_MAX_TTL_S; `system` is reserved; EdDSA verification needs only the public key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.core.errors import InvalidToken
from backend.core.security import tokens
from backend.core.security.tokens import decode_token, issue_token
from backend.core.settings import settings

SECRET = "unit-test-secret-0123456789-0123456789-xyz"


@pytest.fixture(autouse=True)
def _hs256(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(settings.auth, "secret", SECRET)
    monkeypatch.setattr(settings.auth, "algorithm", "HS256")
    tokens._verification_key.cache_clear()
    yield
    tokens._verification_key.cache_clear()


def forge(**claims: Any) -> str:
    now = int(time.time())
    base = {"iss": "ltq", "aud": "ltq-api", "sub": "alice", "role": "client", "iat": now,
            "exp": now + 600, "jti": "j1"}  # fmt: skip
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, algorithm="HS256")


def test_every_token_carries_the_claims_and_lives_an_hour_by_default() -> None:
    claims = jwt.decode(issue_token("alice", "client"), SECRET, algorithms=["HS256"],
                        audience="ltq-api")  # fmt: skip
    assert {"iss", "aud", "sub", "role", "iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 3600
    principal = decode_token(issue_token("alice", "client"))
    assert principal.user == "alice" and principal.token_id and principal.expires_at


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": None}, {"aud": None}, {"jti": None}, {"iat": None}, {"exp": None},
        {"iss": "someone-else"}, {"aud": "another-api"}, {"role": "root"},
        {"exp": int(time.time()) + 12 * 3600},  # lives 12 hours: over JWT_MAX_TTL_S
        {"exp": int(time.time()) - 120},  # expired
        {"sub": "system"},  # reserved subject
        {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3700},  # from the future
    ],
)  # fmt: skip
def test_a_token_missing_or_breaking_a_claim_is_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        decode_token(forge(**claims))


def test_system_is_a_reserved_subject_and_ttl_is_capped() -> None:
    with pytest.raises(ValueError, match="reserved"):
        issue_token("system", "admin")
    with pytest.raises(ValueError, match="JWT_MAX_TTL_S"):
        issue_token("alice", "client", ttl_s=12 * 3600)


def test_eddsa_verifies_with_the_public_key_only(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    monkeypatch.setattr(settings.auth, "algorithm", "EdDSA")
    monkeypatch.setattr(settings.auth, "private_key", private_pem)
    monkeypatch.setattr(settings.auth, "public_key", public_pem)
    monkeypatch.setattr(settings.auth, "secret", None)
    tokens._verification_key.cache_clear()
    token = issue_token("olga", "operator")
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    # The verifier holds no private key and no secret.
    monkeypatch.setattr(settings.auth, "private_key", None)
    assert decode_token(token).user == "olga"
    # An HS256 token signed with a guessed secret is refused (no algorithm confusion).
    with pytest.raises(InvalidToken):
        decode_token(forge())
    with pytest.raises(InvalidToken):
        issue_token("olga", "operator")  # no private key here


def test_the_accounts_own_address_comes_from_the_email_claim() -> None:
    principal = decode_token(issue_token("alice", "client", email="alice@example.com"))
    assert principal.email == "alice@example.com"
    assert decode_token(issue_token("alice", "client")).email is None
    unverified = jwt.decode(
        issue_token("alice", "client", email="alice@example.com"),
        options={"verify_signature": False},
    )
    unverified["email_verified"] = False
    assert decode_token(jwt.encode(unverified, SECRET, algorithm="HS256")).email is None
    with pytest.raises(ValueError, match="e-mail"):
        issue_token("alice", "client", email="not an address")


def test_a_verified_token_is_not_verified_again_but_still_expires_and_follows_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = forge(jti="cached-1", exp=int(time.time()) + 600)
    calls: list[str] = []
    real = jwt.decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("decode")
        return real(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    first = decode_token(token)
    verified = len(calls)
    assert decode_token(token) == first and len(calls) == verified  # from the cache
    # Past the expiry (and the leeway) the cached entry no longer answers: PyJWT decides again
    # (with its own clock, not moved here).
    later = time.time() + 600 + settings.auth.leeway_s + 1
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    decode_token(token)
    assert len(calls) > verified
    monkeypatch.undo()
    # Another verification key (a rotated secret): the token is verified again, and refused.
    monkeypatch.setattr(settings.auth, "secret", "another-secret-0123456789-0123456789-abc")
    monkeypatch.setattr(settings.auth, "algorithm", "HS256")
    tokens._verification_key.cache_clear()
    with pytest.raises(InvalidToken):
        decode_token(token)


def test_a_token_that_failed_is_not_remembered() -> None:
    bad = forge(jti="cached-2", aud="another-api")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            decode_token(bad)
    assert bad not in tokens._verified
