"""Bearer JWTs (HS256, secret from settings) carrying `sub` (the user) and `role`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from backend.config import settings
from backend.enums import Role


class InvalidToken(Exception):
    pass


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
        "exp": now + (ttl_s or settings.jwt_ttl_s),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def decode_token(token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["sub", "role", "exp"]},
        )
        return Principal(user=str(claims["sub"]), role=Role(claims["role"]))
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken(str(exc)) from None
