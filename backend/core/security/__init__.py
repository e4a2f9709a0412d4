"""Authentication: bearer JWTs carrying the user and the role (`Principal`)."""

from backend.core.security.tokens import Principal, decode_token, issue_token

__all__ = ["Principal", "decode_token", "issue_token"]
