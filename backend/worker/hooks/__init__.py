"""Task hooks: the cross-cutting steps of a task's run, composed in a declared order.

`DEFAULT_HOOKS` is the order: limits are taken before the body; on an error, Deferral (no
attempt used) is asked before Retries; on a final failure the dead letter is written first, then the
domain row is settled and the operators are alerted.
"""

from backend.worker.hooks.base import Attempt, FinalFailure, TaskHook
from backend.worker.hooks.final import AlertOperators, DeadLetter, SettleDomainRow
from backend.worker.hooks.rate_limits import Deferral, RateLimits
from backend.worker.hooks.retries import NON_RETRYABLE, Retries, error_fields

__all__ = [
    "DEFAULT_HOOKS",
    "NON_RETRYABLE",
    "AlertOperators",
    "Attempt",
    "DeadLetter",
    "Deferral",
    "FinalFailure",
    "RateLimits",
    "Retries",
    "SettleDomainRow",
    "TaskHook",
    "error_fields",
]

DEFAULT_HOOKS: tuple[TaskHook, ...] = (
    RateLimits(),
    Deferral(),
    Retries(),
    DeadLetter(),
    SettleDomainRow(),
    AlertOperators(),
)
