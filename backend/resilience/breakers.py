"""Circuit breakers shared by every worker process and host, their state in Redis.

Closed → open after `fail_max` failures in a row, or when at least `min_calls` calls in the
current window failed in `failure_ratio` or more; open → half-open after `cooldown_s`, when
exactly one caller wins the probe token (SET NX, expiring after `probe_timeout_s` so that a
probe whose worker died frees the slot); the probe's success closes it, its failure opens it
again. Each decision or record is one Lua call; each state change is published on
`<prefix>events:breakers` and appended to the audit stream `<prefix>audit:breakers`.

Why not pybreaker: its Redis storage shares the counters but not the decisions. Every
process reads, increments and compares in Python (two callers can both trip or both probe),
half-open lets through one call per process rather than one in all, and it has no failure
ratio.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import redis

from backend.adapters.redis_clients import get_redis
from backend.core.clock import now_ms
from backend.core.keys import keys
from backend.core.settings import settings

# One script call per decision, so every worker sees the same state (read and update at once).
_BREAKER_SCRIPT = (Path(__file__).parent / "lua" / "breaker.lua").read_text()

BreakerState = Literal["closed", "open", "half_open"]
BreakerAction = Literal["open", "close", "reset"]
# The gauge values of ltq_breaker_state.
BREAKER_STATE_VALUES: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True)
class BreakerPolicy:
    fail_max: int
    failure_ratio: float
    min_calls: int
    window_s: float
    cooldown_s: float
    probe_timeout_s: float

    @classmethod
    def for_service(cls, service: str) -> BreakerPolicy:
        override = settings.breakers.per_service.get(service, {})
        return cls(
            fail_max=int(override.get("fail_max", settings.breakers.fail_max)),
            failure_ratio=float(override.get("failure_ratio", settings.breakers.failure_ratio)),
            min_calls=int(override.get("min_calls", settings.breakers.min_calls)),
            window_s=float(override.get("window_s", settings.breakers.window_s)),
            cooldown_s=float(override.get("cooldown_s", settings.breakers.cooldown_s)),
            probe_timeout_s=float(
                override.get("probe_timeout_s", settings.breakers.probe_timeout_s)
            ),
        )


@dataclass(frozen=True)
class Permit:
    """The answer to `allow`: whether to call, and if not, when to ask again."""

    allowed: bool
    state: BreakerState
    retry_after_s: float
    token: str
    # The one call let through while half-open: its verdict closes or re-opens the breaker.
    probe: bool = False


class CircuitBreaker:
    def __init__(self, client: redis.Redis, service: str, policy: BreakerPolicy) -> None:
        self.redis = client
        self.service = service
        self.policy = policy
        self._script = client.register_script(_BREAKER_SCRIPT)

    def _run(self, op: str, token: str) -> tuple[str, BreakerState, float]:
        p = self.policy
        service_keys = [
            keys.breaker(self.service),
            keys.breaker_probe(self.service),
            keys.audit_breakers,
        ]
        raw: Any = self._script(
            keys=service_keys,
            args=[
                op,
                now_ms(),
                p.fail_max,
                p.failure_ratio,
                p.min_calls,
                int(p.window_s * 1000),
                int(p.cooldown_s * 1000),
                int(p.probe_timeout_s * 1000),
                token,
                keys.events_breakers,
                self.service,
            ],
        )
        decision, state, retry_after_ms = raw
        return str(decision), state, max(0.05, int(retry_after_ms) / 1000)

    def allow(self) -> Permit:
        """Ask before calling; a denied caller should come back after `retry_after_s`."""
        token = uuid.uuid4().hex
        decision, state, retry_after_s = self._run("allow", token)
        return Permit(decision != "deny", state, retry_after_s, token, probe=decision == "probe")

    def record_success(self, permit: Permit) -> None:
        self._run("success", permit.token)

    def record_failure(self, permit: Permit) -> None:
        self._run("failure", permit.token)

    def force(self, action: BreakerAction, actor: str) -> BreakerState:
        """An operator's `open` (held until closed), `close` or `reset` (counters cleared).
        Returns the state it is in now."""
        op = {"open": "force_open", "close": "force_close", "reset": "reset"}[action]
        _, state, _ = self._run(op, actor)
        return state

    def release(self, permit: Permit) -> None:
        """Give back a probe that will not call, so the next caller may probe at once."""
        if permit.probe:
            self._run("release", permit.token)


def breaker_for(service: str) -> CircuitBreaker | None:
    """The shared breaker of `service`, or None when none is configured (BREAKERS)."""
    if service not in settings.breakers.per_service:
        return None
    return _breaker(service)


@lru_cache(maxsize=32)
def _breaker(service: str) -> CircuitBreaker:
    return CircuitBreaker(get_redis(), service, BreakerPolicy.for_service(service))


def breaker_states(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """State of every configured breaker, for GET /api/tasks/stats (one round trip)."""
    services = sorted(settings.breakers.per_service)
    pipe = client.pipeline(transaction=False)
    for service in services:
        pipe.hgetall(keys.breaker(service))
    out: dict[str, dict[str, Any]] = {}
    for service, raw in zip(services, pipe.execute(), strict=True):
        out[service] = {
            "state": raw.get("state", "closed"),
            "consecutive_failures": int(raw.get("consecutive", 0)),
            "window_calls": int(raw.get("win_calls", 0)),
            "window_failures": int(raw.get("win_failures", 0)),
            "opened_at": int(raw["opened_at"]) if raw.get("opened_at") else None,
            "forced": bool(raw.get("forced")),
            "changed_at": int(raw["changed_at"]) if raw.get("changed_at") else None,
        }
    return out
