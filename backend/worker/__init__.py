"""The worker room: how a Celery worker runs our tasks.

TrackedTask (the lifecycle) and its hooks (limits, deferral, retries, dead letters, alerts in
a declared order), the signal handlers and daemon threads of a worker process (heartbeat,
reaper), and the Celery plug-ins named by the app's configuration: the consumer that
dead-letters what it cannot run, the Redis transport that survives restarts, beat's scheduler.
Task modules import `tracked_task` from here; importing this package connects the signals.
"""

from backend.worker import signals as _signals  # noqa: F401  (connects the handlers)
from backend.worker.context import status_manager, task_service, worker_instance
from backend.worker.task import TrackedTask, tracked_task

__all__ = ["TrackedTask", "status_manager", "task_service", "tracked_task", "worker_instance"]
