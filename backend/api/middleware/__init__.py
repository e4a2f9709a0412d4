"""HTTP middleware, one concern a file: body limit, request metrics, submission rate limits,
request ids."""

__all__ = ["body_limit", "metrics", "rate_limit", "request_id"]
