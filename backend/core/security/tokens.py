"""Bearer JWTs (HS256, secret from settings) carrying `sub` (the user) and `role`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from backend.core.enums import Role
from backend.core.errors import InvalidToken
from backend.core.settings import settings


@dataclass(frozen=True)
class Principal:
    user: str
    role: Role

    @property
    def sees_everything(self) -> bool:
        return self.role.sees_everything

    def may_see(self, owner: str | None) -> bool:
        return self.sees_everything or owner == self.user


def issue_token(user: str, role: Role | str, *, ttl_s: int | None = None) -> str:
    now = int(time.time())
    claims = {
        "sub": user,
        "role": Role(role).value,
        "iat": now,
        "exp": now + (ttl_s or settings.auth.ttl_s),
    }
    return jwt.encode(claims, settings.auth.secret, algorithm=settings.auth.algorithm)


def decode_token(token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.auth.secret,
            algorithms=[settings.auth.algorithm],
            options={"require": ["sub", "role", "exp"]},
        )
        return Principal(user=str(claims["sub"]), role=Role(claims["role"]))
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken(str(exc)) from None
