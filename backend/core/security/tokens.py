"""Bearer JWTs: ours (HS256 with JWT_SECRET, or EdDSA/RS256 with a key pair) and, optionally,
an external OIDC issuer's (verified with the keys its JWKS URL publishes).

Every token carries and is checked for `iss`, `aud`, `sub`, `role`, `iat`, `exp` and `jti`; a
lifetime (`exp - iat`) over JWT_MAX_TTL_S is refused, as is a reserved subject (`system`).
Revocation (a Redis list of `jti`s) is checked by the API (backend.platform.revocations).
Verification needs only the public key: workers and beat need no key at all.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt

from backend.core.enums import RESERVED_SUBJECTS, Role
from backend.core.errors import InvalidToken
from backend.core.settings import settings

__all__ = [
    "Principal",
    "decode_token",
    "is_external",
    "issue_token",
]


@dataclass(frozen=True)
class Principal:
    user: str
    role: Role
    # The token's id and expiry (epoch seconds): what revocation needs.
    token_id: str | None = None
    expires_at: int | None = None
    # The account's own e-mail address (the token's `email` claim), if the issuer gave one:
    # where notifications may go without a confirmation link (backend/services/recipients.py).
    email: str | None = None

    @property
    def sees_everything(self) -> bool:
        return self.role.sees_everything

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may_see(self, owner: str | None) -> bool:
        return self.sees_everything or owner == self.user


def _pem(value: str) -> str:
    """A PEM given inline, or the path of a PEM file."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text.replace("\\n", "\n")
    return Path(text).expanduser().read_text()


def _signing_key() -> Any:
    auth = settings.auth
    if auth.algorithm == "HS256":
        if not auth.effective_secret:
            raise InvalidToken("JWT_SECRET is not set")
        return auth.effective_secret
    if not auth.private_key:
        raise InvalidToken(f"JWT_PRIVATE_KEY is required to issue {auth.algorithm} tokens")
    return _pem(auth.private_key)


@lru_cache(maxsize=1)
def _verification_key() -> Any:
    auth = settings.auth
    if auth.algorithm == "HS256":
        if not auth.effective_secret:
            raise InvalidToken("JWT_SECRET is not set")
        return auth.effective_secret
    if not auth.public_key:
        raise InvalidToken(f"JWT_PUBLIC_KEY is required to verify {auth.algorithm} tokens")
    return _pem(auth.public_key)


def issue_token(
    user: str, role: Role | str, *, ttl_s: int | None = None, email: str | None = None
) -> str:
    """A token of ours for `user` in `role` (needs JWT_SECRET, or JWT_PRIVATE_KEY), with the
    account's own e-mail address if given."""
    if user in RESERVED_SUBJECTS or not user.strip():
        raise ValueError(f"{user!r} is a reserved subject")
    ttl = ttl_s or settings.auth.ttl_s
    if ttl > settings.auth.max_ttl_s:
        raise ValueError(f"ttl {ttl}s is over JWT_MAX_TTL_S ({settings.auth.max_ttl_s}s)")
    now = int(time.time())
    claims = {
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "sub": user,
        "role": Role(role).value,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    if email is not None:
        if _email_of({"email": email}) is None:
            raise ValueError("not an e-mail address")
        claims["email"] = email
    return jwt.encode(claims, _signing_key(), algorithm=settings.auth.algorithm)


def is_external(token: str) -> bool:
    """True when the token names the configured OIDC issuer (its keys come over HTTP)."""
    issuer = settings.auth.oidc_issuer
    if not issuer:
        return False
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss") == issuer
    except jwt.PyJWTError:
        return False


@lru_cache(maxsize=1)
def _jwks_client() -> jwt.PyJWKClient:
    url = settings.auth.oidc_jwks_url
    if not url:
        raise InvalidToken("OIDC_JWKS_URL is not set")
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=settings.auth.oidc_timeout_s)


def _role_of(claims: dict[str, Any], claim: str) -> Role:
    value = claims.get(claim)
    values = value if isinstance(value, list) else [value]
    # Of several roles listed, the least privileged one that we know: a role is never guessed.
    known = [Role(v) for v in values if v in {r.value for r in Role}]
    if not known:
        raise InvalidToken(f"no known role in claim {claim!r}")
    order = [Role.CLIENT, Role.OPERATOR, Role.ADMIN]
    return min(known, key=order.index)


def _email_of(claims: dict[str, Any]) -> str | None:
    """The `email` claim if it is a plausible address the issuer did not mark unverified."""
    value = claims.get("email")
    if not isinstance(value, str) or claims.get("email_verified") is False:
        return None
    local, at, domain = value.strip().rpartition("@")
    if not (at and local and "." in domain) or len(value) > 320 or any(c.isspace() for c in value):
        return None
    return value.strip()


# Tokens of ours that verified, by their exact text, with the key that verified them: a client
# sends the same token with every request, and PyJWT's signature and claim checks are most of
# what authenticating a request costs. A hit re-checks the expiry (the only check that time can
# turn) and that the verification key is still the same object; revocation is checked per
# request by the API, cached or not. Bounded; a token that failed is never kept.
_VERIFIED_MAX = 4096
_verified: dict[str, tuple[Principal, Any]] = {}


def decode_token(token: str) -> Principal:
    """Verify a token (ours, or the OIDC issuer's) and return who it names. Raises InvalidToken.

    An OIDC token's keys may need one HTTP fetch (then cached): the API calls this in a thread
    for tokens where `is_external` is true."""
    if is_external(token):
        return _verify(token, external=True)
    hit = _verified.get(token)
    if hit is not None:
        principal, key = hit
        expires_at = principal.expires_at or 0
        if key is _verification_key() and expires_at > time.time() - settings.auth.leeway_s:
            return principal
    principal = _verify(token, external=False)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[token] = (principal, _verification_key())
    return principal


def _verify(token: str, *, external: bool) -> Principal:
    auth = settings.auth
    try:
        if external:
            key: Any = _jwks_client().get_signing_key_from_jwt(token).key
            algorithms, issuer = auth.oidc_algorithms, auth.oidc_issuer
            audience, role_claim = auth.oidc_audience or auth.audience, auth.oidc_role_claim
        else:
            key, algorithms = _verification_key(), [auth.algorithm]
            issuer, audience, role_claim = auth.issuer, auth.audience, "role"
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=audience,
            issuer=issuer,
            leeway=auth.leeway_s,
            options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]},
        )
    except (jwt.PyJWTError, ValueError, KeyError, OSError) as exc:
        raise InvalidToken(str(exc)) from None
    subject, iat, exp = str(claims["sub"]), int(claims["iat"]), int(claims["exp"])
    if subject in RESERVED_SUBJECTS or not subject.strip():
        raise InvalidToken("reserved subject")
    if exp - iat > auth.max_ttl_s:
        raise InvalidToken(f"token lifetime over {auth.max_ttl_s}s")
    if iat > time.time() + auth.leeway_s:
        raise InvalidToken("token issued in the future")
    return Principal(
        user=subject,
        role=_role_of(claims, role_claim),
        token_id=str(claims["jti"]),
        expires_at=exp,
        email=_email_of(claims),
    )
