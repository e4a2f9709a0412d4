"""Effect ledger: a side effect happens once per idempotency key, however often its task runs.

Delivery is at-least-once (acks_late, redelivery on worker loss, the reaper), so a task body
may run again after its effect already happened. Each effect is recorded under its key in the
`sent_notifications` table (key, kind, sent_at), which every worker on every host shares:

- `once_in_transaction`: an effect in our own database is committed in the same transaction
  as its ledger row. Both happen or neither does; a concurrent duplicate fails on the key and
  rolls its copy of the effect back. Exactly once, with no window.
- `once_external`: an effect outside the database (e-mail, HTTP) cannot share our transaction.
  The key is checked before the call and recorded right after it, and a short Redis claim
  keeps two concurrent runs from both calling. The moment the receiver accepts, a Redis
  marker says so (`mark_done`: one SET, which the caller may send from inside the exchange,
  before its last round trip: the mailer does it between the accepted DATA and QUIT); the SQL
  row follows. One window remains, now the time of that one SET: a crash between the receiver
  accepting and the marker makes the redelivered task call again. Give the receiver a way to
  drop that duplicate (e-mail: a Message-ID derived from the key, see
  `mailer.message_id_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, TypeVar

from redis.exceptions import LockError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.adapters.redis_clients import get_redis
from backend.core.db.models import SentNotification
from backend.core.db.session import session_scope
from backend.core.errors import CallDeferred
from backend.core.keys import keys
from backend.core.settings import settings

T = TypeVar("T")

# How long a claim on an external effect lasts if its holder dies without releasing it. It
# should outlast the call (an SMTP exchange is a few round trips, each within its timeout);
# a run killed inside the call delays its redelivery by up to this long.
CLAIM_S = 30.0
# When another run holds the claim, come back after this long: by then it has usually
# recorded the effect, and the retry finds it done.
BUSY_RETRY_S = 1.0


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """`ran` is False when the key had already completed: the effect was not run again."""

    ran: bool
    value: T | None = None


def completed(key: str) -> bool:
    """Whether the effect under `key` has happened (its ledger row is committed)."""
    with session_scope() as session:
        return session.get(SentNotification, key) is not None


def mark_done(key: str) -> None:
    """Say, in Redis (fast), that the external effect under `key` happened, until its SQL
    ledger row is committed; kept as long as an idempotency key."""
    get_redis().set(keys.effect_done(key), "1", ex=settings.tasks.idempotency_ttl_s)


def _marked_done(key: str, kind: str) -> bool:
    """Marked done in Redis by a run that died before its SQL record: record it now."""
    if not get_redis().exists(keys.effect_done(key)):
        return False
    _record(key, kind)
    return True


def once_in_transaction(key: str, kind: str, effect: Callable[[Session], T]) -> Outcome[T]:
    """Run `effect(session)` unless `key` completed; its writes commit with the ledger row."""
    try:
        with session_scope() as session:
            if session.get(SentNotification, key) is not None:
                return Outcome(ran=False)
            value = effect(session)
            session.add(SentNotification(key=key, kind=kind))
        return Outcome(ran=True, value=value)
    except IntegrityError:
        if completed(key):  # a concurrent run committed first; ours was rolled back whole
            return Outcome(ran=False)
        raise  # the effect's own constraint failed


def once_external(
    key: str, kind: str, call: Callable[[], T], *, claim_s: float = CLAIM_S
) -> Outcome[T]:
    """Run `call()` unless `key` completed, then record it; see the module doc for the window.

    Raises CallDeferred (the task comes back later, no attempt used) while another run holds
    the claim on the same key: a concurrent duplicate, or for up to `claim_s` a run that
    died inside the call (it may have called, or not: the claim's expiry decides).
    """
    if completed(key) or _marked_done(key, kind):
        return Outcome(ran=False)
    # redis-py's Lock releases only its own claim (a token compared in Lua), never one that
    # another run took after ours expired.
    claim = get_redis().lock(keys.effect_claim(key), timeout=claim_s, blocking=False)
    if not claim.acquire():
        if _marked_done(key, kind):  # its run died after the effect, holding the claim
            return Outcome(ran=False)
        raise CallDeferred(f"effect {kind} in progress elsewhere", BUSY_RETRY_S)
    try:
        if completed(key):  # recorded by a run that released the claim since our check
            return Outcome(ran=False)
        value = call()
        mark_done(key)  # at once; `call` may have done it already, inside the exchange
        _record(key, kind)
        return Outcome(ran=True, value=value)
    finally:
        with suppress(LockError):  # expired during a call longer than claim_s
            claim.release()


def _record(key: str, kind: str) -> None:
    try:
        with session_scope() as session:
            session.add(SentNotification(key=key, kind=kind))
    except IntegrityError:
        pass  # recorded by a run whose claim had expired: the row says the same
