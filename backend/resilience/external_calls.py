"""Calls to external services behind the shared rate limiter and circuit breaker.

    with external_call("smtp"):
        mailer.send(message)

Over the service's limit, or while its breaker is open, the block does not run:
`CallDeferred` says when to try again, and TrackedTask re-publishes the task for then without
using an attempt. A caller with a fallback catches `BreakerOpen` (a `CallDeferred`) and uses it
instead (the LLM triage engine falls back to the rules). An exception inside the block counts
as a failure of the service.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from backend.core.errors import BreakerOpen, CallDeferred
from backend.resilience.breakers import breaker_for
from backend.resilience.rate_limits import worker_rate_limiter

# Deferred tasks that learned the same "slot frees at t" would all come back at t and all but
# a few be sent back again; a spread of up to this share of the wait (at least 50 ms) keeps
# the herd small while the first of them still lands on the freed slot.
_SPREAD = 0.5


def spread(delay_s: float, deferrals: int) -> float:
    """The delay plus jitter that grows with how often this task was already sent back."""
    width = max(0.05, delay_s * _SPREAD) * min(1 + deferrals, 10)
    return round(delay_s + random.uniform(0, width), 3)


def take_rate_limit(service: str, key: str | None = None) -> None:
    refusal = worker_rate_limiter().acquire(service, key)
    if refusal is not None:
        raise CallDeferred(f"rate limit {refusal.limit}", refusal.retry_after_s, service=service)


@contextmanager
def external_call(service: str, key: str | None = None) -> Iterator[None]:
    """Run the block as one call to `service`, if its breaker and its limit let it."""
    breaker = breaker_for(service)
    if breaker is None:
        take_rate_limit(service, key)
        yield
        return
    # The breaker first: calls refused by an open breaker (or sent to their fallback) must not
    # use up the slots of the rate limit. A probe then refused a slot gives its token back.
    permit = breaker.allow()
    if not permit.allowed:
        raise BreakerOpen(
            f"breaker {service} {permit.state}", permit.retry_after_s, service=service
        )
    try:
        take_rate_limit(service, key)
    except CallDeferred:
        breaker.release(permit)
        raise
    try:
        yield
    except Exception:
        breaker.record_failure(permit)
        raise
    breaker.record_success(permit)
