"""The task catalogue: every task the platform runs, its queue, retry policy, limits and roles.

Pure data with no Celery import: the API reads it to validate submissions, the Celery app to
route, the worker to retry and time-limit. A task unknown here cannot be enqueued.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from backend.core.enums import Priority, QueueName, ResourceType, Role
from backend.core.settings import settings

__all__ = ["TASK_MODULES", "TASK_SPECS", "RetryPolicy", "TaskSpec", "register_spec", "spec_for"]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: delay_n = min(cap, base * 2**(n-1)) * U(1 - jitter, 1)."""

    max_attempts: int = 3
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    jitter: float = 0.5

    def delay_for(self, attempt: int, rand: float) -> float:
        """Delay before attempt `attempt + 1`, given the attempt that failed and U(0,1)."""
        raw = min(self.backoff_cap_s, self.backoff_base_s * 2 ** max(0, attempt - 1))
        return float(round(raw * (1 - self.jitter * rand), 3))

    def merged(self, override: dict[str, Any] | None) -> RetryPolicy:
        if not override:
            return self
        allowed = {k: v for k, v in override.items() if k in self.__dataclass_fields__}
        if "max_attempts" in allowed:  # JSON gives 3.0 as readily as 3: a count is an int
            allowed["max_attempts"] = int(allowed["max_attempts"])
        return replace(self, **allowed)

    def to_dict(self) -> dict[str, float]:
        return {
            "max_attempts": self.max_attempts,
            "backoff_base_s": self.backoff_base_s,
            "backoff_cap_s": self.backoff_cap_s,
            "jitter": self.jitter,
        }


@dataclass(frozen=True)
class TaskSpec:
    name: str
    queue: QueueName
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    soft_time_limit_s: float = 60.0
    time_limit_s: float = 90.0
    default_priority: Priority = Priority.NORMAL
    # Who may submit it through the generic POST /api/tasks (domain routes enqueue their own).
    submit_roles: frozenset[Role] = frozenset({Role.OPERATOR, Role.ADMIN})
    # Shared rate limits (settings.limits.rate_limits) taken before each run; over one, the task is
    # deferred until a slot frees. Calls that need a key use `external_call(service, key=...)`
    # in the body (backend/resilience/external_calls.py).
    rate_limits: tuple[str, ...] = ()
    # The positional arguments that are row ids, by kind: a client may submit the task only
    # with rows it owns (checked by the API, and again by the task), and no kwargs.
    owned_args: tuple[ResourceType, ...] = ()
    # The highest priority a client may ask for; operators may ask for any. Clients may not
    # choose another queue than the spec's.
    client_max_priority: Priority = Priority.HIGH


_OPS = frozenset({Role.OPERATOR, Role.ADMIN})
_ALL = frozenset(Role)

TASK_SPECS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "triage.classify_case",
            QueueName.TRIAGE,
            RetryPolicy(max_attempts=5, backoff_base_s=2, backoff_cap_s=60),
            soft_time_limit_s=60,
            time_limit_s=90,
            submit_roles=_ALL,
            owned_args=(ResourceType.CASE,),
        ),
        TaskSpec(
            "documents.analyse_document",
            QueueName.DOCUMENTS,
            RetryPolicy(max_attempts=3, backoff_base_s=5, backoff_cap_s=300),
            soft_time_limit_s=120,
            time_limit_s=180,
            submit_roles=_ALL,
            owned_args=(ResourceType.DOCUMENT,),
        ),
        TaskSpec(
            "notifications.send_email",
            QueueName.NOTIFICATIONS,
            RetryPolicy(max_attempts=6, backoff_base_s=5, backoff_cap_s=900),
            soft_time_limit_s=30,
            time_limit_s=60,
            default_priority=Priority.HIGH,
            submit_roles=_OPS,
        ),
        TaskSpec(
            # A batch's completion callback: POST to the requester's URL (backoff for a
            # receiver that is down for a while; a 4xx answer fails it at once).
            "notifications.send_webhook",
            QueueName.NOTIFICATIONS,
            RetryPolicy(max_attempts=6, backoff_base_s=5, backoff_cap_s=600),
            soft_time_limit_s=30,
            time_limit_s=60,
            default_priority=Priority.HIGH,
            submit_roles=_OPS,
        ),
        TaskSpec(
            "reports.generate_operations_report",
            QueueName.REPORTS,
            RetryPolicy(max_attempts=3, backoff_base_s=30, backoff_cap_s=600),
            soft_time_limit_s=300,
            time_limit_s=360,
            default_priority=Priority.LOW,
            submit_roles=_OPS,
        ),
        TaskSpec(
            # A reaper pass on demand (see backend/platform/recovery/reaper.py).
            "maintenance.reap_lost_tasks",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=1),
            soft_time_limit_s=20,
            time_limit_s=30,
            default_priority=Priority.HIGH,
            submit_roles=_OPS,
        ),
        TaskSpec(
            # Publishes tasks accepted while Redis was down (see backend/platform/outbox.py).
            "maintenance.relay_outbox",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=1),
            soft_time_limit_s=60,
            time_limit_s=90,
            default_priority=Priority.HIGH,
            submit_roles=_OPS,
        ),
        TaskSpec(
            "maintenance.purge_expired",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=3, backoff_base_s=60, backoff_cap_s=900),
            soft_time_limit_s=600,
            time_limit_s=660,
            default_priority=Priority.LOW,
            submit_roles=_OPS,
        ),
        TaskSpec(
            # A data subject's erasure (backend/services/privacy.py); submitted by the API only.
            "privacy.erase_subject",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=5, backoff_base_s=5, backoff_cap_s=120),
            soft_time_limit_s=900,
            time_limit_s=960,
            default_priority=Priority.HIGH,
            submit_roles=frozenset(),
        ),
        TaskSpec(
            # Canary: proves a worker on the queue picks up and completes work end to end.
            "maintenance.ping",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=1),
            soft_time_limit_s=10,
            time_limit_s=20,
            submit_roles=_ALL,
        ),
    )
}


def register_spec(spec: TaskSpec) -> None:
    """Add a task spec (from modules listed in EXTRA_TASK_MODULES, e.g. test instruments);
    routing reads the catalogue at publish time, so nothing else needs to know."""
    TASK_SPECS[spec.name] = spec


def spec_for(name: str) -> TaskSpec:
    spec = TASK_SPECS[name]
    override = settings.tasks.policy_overrides.get(name)
    return replace(spec, retry=spec.retry.merged(override)) if override else spec


# The modules that define the built-in tasks (imported by workers; the API needs only specs).
TASK_MODULES = [
    "backend.tasks.triage",
    "backend.tasks.documents",
    "backend.tasks.notifications",
    "backend.tasks.reports",
    "backend.tasks.maintenance",
    "backend.tasks.privacy",
]
