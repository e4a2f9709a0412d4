"""The worker's message consumer, with Celery's handlers for messages it cannot run replaced,
and the messages it drops when its broker connection breaks remembered (`on_close`).

Celery logs an unknown task's or an undecodable message's body (personal data, in our case
texts) and drops the message. Here the message goes to the dead-letter store instead: its
headers and a truncated, scrubbed body; then it is acked or rejected so that it is not
redelivered forever, and nothing of the body is logged.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import signals
from celery.utils.log import get_logger as celery_logger
from celery.worker import state
from celery.worker.consumer.consumer import Consumer

from backend.core.enums import DeadLetterReason, Transition
from backend.core.logging import get_logger
from backend.platform import dead_letters
from backend.worker.context import status_manager
from backend.worker.daemons import remember_dropped

log = get_logger(__name__)
_celery_log = celery_logger(__name__)


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body).decode("utf-8", errors="replace")
    return str(body)


def _store(
    task_id: str,
    *,
    name: str,
    queue: str,
    reason: str,
    error_type: str,
    error_message: str,
    text: str,
) -> None:
    try:
        dead_letters.record(
            task_id=task_id,
            name=name,
            queue=queue,
            reason=reason,
            error_type=error_type,
            error_message=error_message,
            # No traceback for a message: what there is of it (scrubbed, truncated) instead.
            traceback=text,
            history=[{"state": "RECEIVED", "detail": f"{reason} message"}],
        )
    except Exception as exc:
        log.error("dead_letter_not_recorded", task_id=task_id, error=type(exc).__name__)
    log.warning("message_dead_lettered", task_id=task_id, task=name, reason=reason)


def record_message(message: Any, *, reason: str, error_type: str, error_message: str) -> str:
    """Store an undeliverable message; returns the id it is stored under. Never raises."""
    headers = message.headers if isinstance(message.headers, dict) else {}
    delivery = message.delivery_info if isinstance(message.delivery_info, dict) else {}
    task_id = str(headers.get("id") or f"message-{uuid.uuid4()}")
    name = str(headers.get("task") or "")
    _store(
        task_id,
        name=name,
        queue=str(delivery.get("routing_key") or ""),
        reason=reason,
        error_type=error_type,
        error_message=error_message,
        text=f"headers: id={task_id} task={name}\nbody: {_text(message.body)}",
    )
    return task_id


def record_raw(text: str, *, queue: str, error_type: str) -> None:
    """Store bytes popped from a queue that are not a message envelope. Never raises."""
    _store(
        f"message-{uuid.uuid4()}",
        name="",
        queue=queue,
        reason=DeadLetterReason.UNDECODABLE,
        error_type=error_type,
        error_message="message envelope could not be decoded",
        text=f"body: {text}",
    )


class DeadLetterConsumer(Consumer):  # type: ignore[misc]
    def on_close(self) -> None:
        """The broker connection broke: Celery forgets every message it holds but does not run
        (ETA holds, messages waiting for a pool slot), expecting the broker to redeliver them.
        kombu's Redis transport gives them back only if Redis still answers at that moment; if
        it is down (a restart), they would sit in the unacked hash until the visibility timeout,
        and the reaper leaves them alone since this worker is alive. So remember them here: the
        worker's reaper thread gives them back once Redis answers (`give_back_dropped`)."""
        held = {*state.reserved_requests, *state.scheduled_requests}
        dropped = []
        for request in held:
            message = getattr(request, "message", None)
            if request not in state.active_requests and message is not None:
                dropped.append((str(message.delivery_tag), str(request.id)))
        remember_dropped(dropped)
        super().on_close()

    def on_unknown_message(self, body: Any, message: Any) -> None:
        record_message(
            message,
            reason=DeadLetterReason.UNDECODABLE,
            error_type="UnknownMessage",
            error_message="not a task message",
        )
        message.reject_log_error(_celery_log, self.connection_errors)
        signals.task_rejected.send(sender=self, message=message, exc=None)

    def on_unknown_task(self, body: Any, message: Any, exc: BaseException) -> None:
        task_id = record_message(
            message,
            reason=DeadLetterReason.UNKNOWN_TASK,
            error_type="NotRegistered",
            error_message="no task of this name is registered on the worker",
        )
        message.reject_log_error(_celery_log, self.connection_errors)
        try:  # a task enqueued through our service has a record: it failed for good
            status_manager().transition(
                task_id,
                Transition.FAILURE,
                detail="no worker knows this task name",
                fields={"error_type": "NotRegistered", "error_message": "unknown task"},
            )
        except Exception as err:
            log.warning("status_not_updated", task_id=task_id, error=type(err).__name__)
        signals.task_unknown.send(
            sender=self, message=message, exc=exc, name=message.headers.get("task"), id=task_id
        )

    def on_invalid_task(self, body: Any, message: Any, exc: BaseException) -> None:
        record_message(
            message,
            reason=DeadLetterReason.UNDECODABLE,
            error_type=type(exc).__name__,
            error_message="invalid task message",
        )
        message.reject_log_error(_celery_log, self.connection_errors)
        signals.task_rejected.send(sender=self, message=message, exc=exc)

    def on_decode_error(self, message: Any, exc: BaseException) -> None:
        record_message(
            message,
            reason=DeadLetterReason.UNDECODABLE,
            error_type=type(exc).__name__,
            error_message="message body could not be decoded",
        )
        message.ack()
