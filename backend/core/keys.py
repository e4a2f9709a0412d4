"""Every Redis key the platform uses, under one prefix (settings.redis.key_prefix).

The broker's own keys (queue lists, unacked hash, bindings) carry the same prefix through
kombu's `global_keyprefix`, so one Redis can host several deployments side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.core.enums import PRIORITY_STEPS
from backend.core.settings import settings

BROKER_SEP = ":"


@dataclass(frozen=True)
class Keys:
    prefix: str

    def task(self, task_id: str) -> str:
        return f"{self.prefix}task:{task_id}"

    def history(self, task_id: str) -> str:
        return f"{self.prefix}task:{task_id}:history"

    @property
    def index_all(self) -> str:
        return f"{self.prefix}idx:all"

    def index(self, field: str, value: str) -> str:
        return f"{self.prefix}idx:{field}:{value}"

    @property
    def index_prefix(self) -> str:
        return f"{self.prefix}idx:"

    def idempotency(self, owner: str, key: str) -> str:
        return f"{self.prefix}idem:{owner}:{key}"

    def stats_counts(self, task_name: str) -> str:
        return f"{self.prefix}stats:counts:{task_name}"

    def stats_hist_run(self, task_name: str) -> str:
        """Run time histogram of a task name (bucket counters, backend/platform/histograms.py)."""
        return f"{self.prefix}stats:hist:run:{task_name}"

    def stats_hist_wait(self, task_name: str) -> str:
        """Wait time (enqueue to first start) histogram of a task name."""
        return f"{self.prefix}stats:hist:wait:{task_name}"

    def stats_failures(self, task_name: str) -> str:
        """Final failures of a task name by error type."""
        return f"{self.prefix}stats:failures:{task_name}"

    @property
    def stats_deferrals(self) -> str:
        """Tasks sent back by a rate limit or an open breaker, by `cause|service`."""
        return f"{self.prefix}stats:deferrals"

    @property
    def stats_recovery(self) -> str:
        """Counters of recovery work: reaper requeues, orphan republishes, Redis outage retries."""
        return f"{self.prefix}stats:recovery"

    @property
    def paused_queues(self) -> str:
        """Set of queues operators paused: workers stop consuming them until resumed."""
        return f"{self.prefix}queues:paused"

    @property
    def audit_controls(self) -> str:
        """Stream of operators' control actions (pause, purge, breaker changes), with who."""
        return f"{self.prefix}audit:controls"

    def alert_window(self, task_name: str) -> str:
        """Failures of a task name counted in the current failure-alert window."""
        return f"{self.prefix}alerts:failed:{task_name}"

    @property
    def stats_names(self) -> str:
        return f"{self.prefix}stats:names"

    def throughput(self, minute: int) -> str:
        return f"{self.prefix}stats:tp:{minute}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}workers"

    def worker(self, hostname: str) -> str:
        return f"{self.prefix}worker:{hostname}"

    def events(self, task_id: str) -> str:
        """Pub/sub channel of one task's live events."""
        return f"{self.prefix}events:task:{task_id}"

    def effect_claim(self, key: str) -> str:
        """Short lock held while an external effect with this idempotency key runs."""
        return f"{self.prefix}effect:{key}"

    def effect_done(self, key: str) -> str:
        """Marker: the external effect with this idempotency key happened (effects.py)."""
        return f"{self.prefix}effect-done:{key}"

    def events_batch(self, batch_id: str) -> str:
        """Pub/sub channel of one batch's count changes."""
        return f"{self.prefix}events:batch:{batch_id}"

    def breaker(self, service: str) -> str:
        return f"{self.prefix}breaker:{service}"

    def breaker_probe(self, service: str) -> str:
        return f"{self.prefix}breaker:{service}:probe"

    @property
    def events_breakers(self) -> str:
        """Pub/sub channel of breaker state changes."""
        return f"{self.prefix}events:breakers"

    @property
    def audit_breakers(self) -> str:
        """Stream of breaker state changes (the audit trail of the breakers)."""
        return f"{self.prefix}audit:breakers"

    def revoked_token(self, jti: str) -> str:
        """Marker of a revoked token (by its `jti`), expiring when the token would."""
        return f"{self.prefix}revoked:{jti}"

    def sse_streams(self, user: str) -> str:
        """Sorted set of one user's open SSE streams (member: stream id, score: expiry ms)."""
        return f"{self.prefix}sse:{user}"

    def quota(self, user: str, what: str, window: str) -> str:
        """Counter of one user's use of a quota (`what`) in a window (a day, an hour)."""
        return f"{self.prefix}quota:{what}:{user}:{window}"

    def broker_queue(self, queue: str, broker_priority: int) -> str:
        """The Redis list kombu consumes for `queue` at that priority step."""
        step = max(s for s in PRIORITY_STEPS if s <= broker_priority)
        name = f"{queue}{BROKER_SEP}{step}" if step else queue
        return f"{self.prefix}{name}"

    def broker_queues(self, queue: str) -> list[str]:
        return [self.broker_queue(queue, step) for step in PRIORITY_STEPS]

    @property
    def broker_unacked(self) -> str:
        """kombu's hash of delivered, not yet acknowledged messages (delivery tag -> message)."""
        return f"{self.prefix}unacked"

    @property
    def broker_unacked_index(self) -> str:
        return f"{self.prefix}unacked_index"


keys = Keys(settings.redis.key_prefix)
