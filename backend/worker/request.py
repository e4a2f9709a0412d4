"""The worker main process's request for a TrackedTask: a successful run's acknowledgement
costs it no Redis call, since the pool child wrote it with the outcome.

Celery acknowledges an acks-late task in the main process once the child reports success: a
MULTI round trip (ZREM + HDEL of kombu's unacked entries) per task, on the process that also
fetches and dispatches every message (the bottleneck of a prefork worker). When
`outcome_acknowledges()` holds, TrackedTask.on_success removes the delivery in its "success"
script instead, atomically with the record: a run whose outcome is not recorded stays unacked
(the reaper or the visibility timeout gives it back), and the main process only forgets it.
Every other ending (failure, retry, ignore, reject, time limit, lost child) is acknowledged by
the main process as before.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request

from backend.worker.transport import outcome_acknowledges


class TrackedRequest(Request):  # type: ignore[misc]
    _settled_by_child = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Celery builds a subclass per task (celery.worker.request.create_request_cls) whose
        # own on_success acknowledges; wrap it to know, in `acknowledge`, that the run
        # succeeded: only then did the child write the ack.
        super().__init_subclass__(**kwargs)
        generated = cls.__dict__.get("on_success")
        if generated is None:
            return

        def on_success(self: TrackedRequest, failed__retval__runtime: Any, **kw: Any) -> Any:
            self._settled_by_child = not failed__retval__runtime[0] and outcome_acknowledges()
            return generated(self, failed__retval__runtime, **kw)

        cls.on_success = on_success

    def acknowledge(self) -> None:
        if self._settled_by_child and not self._acknowledged():
            message = self.message
            message.channel.qos.forget(message.delivery_tag)
            message._state = "ACK"
            self.acknowledged = True
            return
        super().acknowledge()

    def _acknowledged(self) -> bool:
        return bool(self.acknowledged)
