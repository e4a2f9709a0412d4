"""Bodies of /api/auth (token revocation) and /api/audit (the audit trail)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.api.schemas.common import UtcDateTime


class RevokeIn(BaseModel):
    """Either the token itself or its `jti`."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(default=None, min_length=10, max_length=8192)
    jti: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[\w.:-]+$")

    @model_validator(mode="after")
    def _one_of(self) -> RevokeIn:
        if (self.token is None) == (self.jti is None):
            raise ValueError("give exactly one of `token` or `jti`")
        return self


class RevokeOut(BaseModel):
    jti: str
    revoked: bool
    # Seconds the revocation is kept: until the token would have expired anyway.
    expires_in_s: int


class AuditEntryOut(BaseModel):
    seq: int
    at: UtcDateTime
    actor: str
    role: str
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    request_id: str | None
    source: str | None
    prev_hash: str
    hash: str


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None
