"""kombu's Redis transport, made to survive two things that stop a stock worker.

1. A message that is not even JSON: kombu decodes the envelope of each message it pops, before
   any Celery handler sees it, and a decoding error there is an "unrecoverable error" that stops
   the worker: one garbage LPUSH would take down every worker of that queue in turn.
   `_brpop_read` and `_get` are kombu's own (5.x), with the decoding guarded; the popped bytes
   go to the dead-letter store.
2. A Redis restart while tasks run: see `Channel._connparams`.

It also lets a pool child acknowledge a run in the script that records its outcome (`QoS`,
`outcome_acknowledges`): the worker's main process then makes no Redis call for that ack.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils import encoding, json
from redis.exceptions import ConnectionError as RedisConnectionError

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
    from backend.worker.consumer import record_raw  # worker-side only; keeps imports light

    record_raw(text, queue=queue, error_type=error)
    return None


@lru_cache(maxsize=1)
def outcome_acknowledges() -> bool:
    """Whether a successful run's delivery is acknowledged by the pool child, in the script
    that records the outcome (TrackedTask.on_success), instead of by the main process in a
    round trip of its own. Needs this transport (for `QoS.forget`) and the broker on the
    Redis that holds the task records (one script touches both)."""
    from backend.core.settings import settings
    from backend.platform.celery_app import celery_app

    redis_settings = settings.redis
    return (
        celery_app.conf.broker_transport == f"{__name__}:Transport"
        and redis_settings.effective_broker_url == redis_settings.url
        and bool(celery_app.conf.task_acks_late)
    )


class QoS(kombu_redis.QoS):  # type: ignore[misc]
    def forget(self, delivery_tag: str) -> None:
        """The delivery was acknowledged on Redis already (a child recorded its outcome with
        the ack): only the local bookkeeping of an ack, no round trip."""
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    QoS = QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before kombu's __init__: it already connects (PING), through _connparams.
        self._known_connparams: dict[bool, dict[str, Any]] = {}
        self._sync_client: Any = None
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def _create_client(self, asynchronous: bool = False) -> Any:
        """kombu builds a new client (with its ~200 response callbacks) for every synchronous
        call: each delivery's filing as unacked, each ack, in the main process, per message.
        A client is only a handle on its connection pool: one per pool does (a new pool after
        a reconnect gets a new client)."""
        if asynchronous:
            return super()._create_client(asynchronous)  # type: ignore[no-untyped-call]
        pool = self.pool
        client = self._sync_client
        if client is None or client.connection_pool is not pool:
            client = self._sync_client = super()._create_client(False)  # type: ignore[no-untyped-call]
        return client

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        """Redis connection parameters; still known after kombu has detached the channel.

        Why (kombu/celery 5.7): when the consumer loses Redis, Celery's
        `on_connection_error_after_connected` calls `connection.collect()`, which closes the
        channels and then sets `transport.client = None`, and then `connection.close()`,
        which closes the default (task) channel once more. If the error surfaced on another
        socket (the pidbox's LISTEN) while the task channel had a BRPOP pending (a worker with
        a free pool slot), that channel's first close fails in its `_brpop_read`, before it is
        marked closed; collect's second try (closing every channel of the transport) stops at
        the first close that fails: the pidbox channel's, whose auto-delete queue is on Redis.
        The last close then reaches `QoS.restore_unacked_once()` for the acks-late tasks still
        running; that needs a new pool (kombu dropped it), and kombu's `_connparams` reads
        `self.connection.client`, now None. The AttributeError ('hostname') is no connection
        error: it passes kombu's and Celery's ignore-connection-errors guards and the worker
        shuts down ("Unrecoverable error"). A running task's late ack on that old channel after
        the reconnect failed the same way. With the parameters remembered, both just talk to
        Redis: while it is down they fail with a connection error, which the guards expect,
        and once it is back the ack lands (no redelivery after the visibility timeout).
        """
        transport = self.connection
        if transport is not None and transport.client is not None:
            params: dict[str, Any] = super()._connparams(asynchronous)  # type: ignore[no-untyped-call]
            self._known_connparams[asynchronous] = params
            return dict(params)
        known = self._known_connparams.get(asynchronous)
        if known is None:
            raise RedisConnectionError("broker connection closed")
        return dict(known)

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
