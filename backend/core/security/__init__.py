"""Authentication and authorisation: bearer JWTs carrying the user and the role (`Principal`),
what each role may do (`permissions`), and the production configuration verdicts
(`config_check`)."""

from backend.core.security.permissions import Permission, allowed
from backend.core.security.tokens import Principal, decode_token, is_external, issue_token

__all__ = ["Permission", "Principal", "allowed", "decode_token", "is_external", "issue_token"]
