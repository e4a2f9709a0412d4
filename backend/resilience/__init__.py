"""The resilience room: shared rate limits and circuit breakers (state in Redis, one for every
worker and host), external calls behind both, and the effect ledger that makes a side effect
happen once per idempotency key however often its task runs; per-user quotas."""

__all__ = ["breakers", "effects", "external_calls", "quotas", "rate_limits"]
