"""Each owner's data key: created on first write, wrapped in SQL, cached unwrapped per process.

The `data_keys` row holds the owner's 256-bit data key encrypted (AES-GCM) under a
key-encryption key from DATA_KEYS and bound to the owner. Deleting the row (erasure) makes every
copy of that owner's sealed data, in backups too, unreadable. `rotate` re-wraps every row under
the newest key-encryption key, a batch per transaction, while the platform keeps running (the
older keys stay in DATA_KEYS until it has finished).

Unwrapped keys are cached per process (DATA_KEY_CACHE_SIZE entries, least recently used out,
each for DATA_KEY_CACHE_TTL_S): a hot owner costs one dict lookup per field.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from backend.core.crypto.aead import KeyRing, new_key, parse_keys
from backend.core.db.models import DataKey
from backend.core.db.session import session_scope
from backend.core.errors import DataKeyDestroyed, EncryptionKeyMissing
from backend.core.settings import settings

_ROTATE_BATCH = 200


@lru_cache(maxsize=1)
def _configured() -> KeyRing:
    secret = settings.privacy.data_keys
    if secret is not None:
        return parse_keys(secret.get_secret_value())
    path = settings.privacy.data_keys_file
    if settings.app.environment != "production" and path.is_file():
        return parse_keys(path.read_text())
    raise EncryptionKeyMissing(
        "no key-encryption key: set DATA_KEYS (`python -m backend keys generate`), or run "
        f"`make up` once to create {path} for local use"
    )


def key_ring() -> KeyRing:
    """The configured key-encryption keys (DATA_KEYS, else DATA_KEYS_FILE outside production)."""
    return _configured()


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, AESGCM]] = OrderedDict()

    def get(self, owner: str) -> AESGCM | None:
        with self._lock:
            hit = self._items.get(owner)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._items[owner]
                return None
            self._items.move_to_end(owner)
            return hit[1]

    def put(self, owner: str, cipher: AESGCM) -> None:
        with self._lock:
            self._items[owner] = (time.monotonic() + settings.privacy.data_key_cache_ttl_s, cipher)
            self._items.move_to_end(owner)
            while len(self._items) > settings.privacy.data_key_cache_size:
                self._items.popitem(last=False)

    def drop(self, owner: str | None = None) -> None:
        with self._lock:
            if owner is None:
                self._items.clear()
            else:
                self._items.pop(owner, None)


_cache = _Cache()


def data_key(owner: str, *, create: bool) -> AESGCM:
    """The owner's data key; created (and stored wrapped) on first use when `create`.

    Callers that write inside a transaction call `ensure(owner)` before it begins, so the
    creation never waits on their own SQLite write lock.
    """
    cached = _cache.get(owner)
    if cached is not None:
        return cached
    ring = key_ring()
    with session_scope() as session:
        row = session.get(DataKey, owner)
        found = None if row is None else (row.kek_id, row.wrapped)
    if found is None:
        if not create:
            raise DataKeyDestroyed(f"no data key for owner {owner!r}")
        found = _create(ring, owner)
    cipher = AESGCM(ring.unwrap(found[0], found[1], owner))
    _cache.put(owner, cipher)
    return cipher


def ensure(owner: str) -> None:
    """Make sure the owner has a data key (outside any open transaction)."""
    data_key(owner, create=True)


def _create(ring: KeyRing, owner: str) -> tuple[str, bytes]:
    kek_id, wrapped = ring.wrap(new_key(), owner)
    try:
        with session_scope() as session:
            session.add(DataKey(owner=owner, kek_id=kek_id, wrapped=wrapped))
        return kek_id, wrapped
    except IntegrityError:
        # Another process created it first: use theirs.
        with session_scope() as session:
            row = session.get(DataKey, owner)
            if row is None:
                raise
            return row.kek_id, row.wrapped


def destroy(owner: str) -> bool:
    """Delete the owner's data key (crypto-shredding); True if there was one."""
    with session_scope() as session:
        result = session.execute(delete(DataKey).where(DataKey.owner == owner))
        removed = int(getattr(result, "rowcount", 0) or 0)
    _cache.drop(owner)
    return bool(removed)


def forget_cached() -> None:
    """Drop every cached unwrapped key of this process."""
    _cache.drop()


def rotate(ring: KeyRing | None = None) -> dict[str, int]:
    """Re-wrap every data key not under the newest key-encryption key; returns the counts.

    Each batch is its own short transaction, and each row is updated only if it is still
    wrapped as it was read, so concurrent writers and a second rotation are harmless.
    """
    ring = ring or key_ring()
    newest = ring.newest_id
    rotated = 0
    while True:
        with session_scope() as session:
            rows = session.execute(
                select(DataKey.owner, DataKey.kek_id, DataKey.wrapped)
                .where(DataKey.kek_id != newest)
                .order_by(DataKey.owner)
                .limit(_ROTATE_BATCH)
            ).all()
            for owner, kek_id, wrapped in rows:
                _, rewrapped = ring.wrap(ring.unwrap(kek_id, wrapped, owner), owner)
                result = session.execute(
                    update(DataKey)
                    .where(DataKey.owner == owner, DataKey.kek_id == kek_id)
                    .values(kek_id=newest, wrapped=rewrapped, rotated_at=datetime.now(UTC))
                )
                rotated += int(getattr(result, "rowcount", 0) or 0)
        if len(rows) < _ROTATE_BATCH:
            break
    return {"rotated": rotated, **counts_by_kek()}


def counts_by_kek() -> dict[str, int]:
    """How many data keys each key-encryption key wraps (`keys status`)."""
    with session_scope() as session:
        rows = session.execute(select(DataKey.kek_id, func.count()).group_by(DataKey.kek_id))
        return {f"wrapped_by:{kek_id}": int(n) for kek_id, n in rows}
