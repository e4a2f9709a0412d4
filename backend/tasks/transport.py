"""kombu's Redis transport, with a message that is not even JSON dead-lettered, not fatal.

kombu decodes the envelope of each message it pops, before any Celery handler sees it, and a
decoding error there is an "unrecoverable error" that stops the worker: one garbage LPUSH
would take down every worker of that queue in turn. `_brpop_read` and `_get` are kombu's own
(5.x), with the decoding guarded; the popped bytes go to the dead-letter store.
"""

from __future__ import annotations

from collections.abc import Callable
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils import encoding, json

# kombu's own helpers (untyped), exactly as its transport calls them
bytes_to_str: Callable[[Any], str] = encoding.bytes_to_str
loads: Callable[[str], Any] = json.loads


def _decoded(raw: Any, queue: str) -> Any | None:
    """The message, or None after dead-lettering bytes that are no JSON envelope."""
    text = bytes_to_str(raw)
    try:
        message = loads(text)
    except ValueError as exc:
        message = None
        error = type(exc).__name__
    else:
        if isinstance(message, dict):
            return message
        error = "NotAnEnvelope"
    from backend.tasks.consumer import record_raw  # worker-side only; keeps imports light

    record_raw(text, queue=queue, error_type=error)
    return None


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if dest__item:
                dest, item = dest__item
                dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
                self._queue_cycle.rotate(dest)
                message = _decoded(item, dest)
                if message is not None:
                    self.connection._deliver(message, dest)
                return True
            raise Empty()
        finally:
            self._in_poll = None  # type: ignore[assignment]
            self._flush_brpop_reauth()  # type: ignore[no-untyped-call]

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))  # type: ignore[no-untyped-call]
                if item:
                    self._maybe_update_queues_expire(client, queue)  # type: ignore[no-untyped-call]
                    message = _decoded(item, queue)
                    if message is not None:
                        return message
            self._maybe_update_queues_expire(client, queue)  # type: ignore[no-untyped-call]
            raise Empty()


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel
