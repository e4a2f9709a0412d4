"""SQLAlchemy models. Schema changes go through Alembic migrations (backend/core/db/migrations)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from backend.core.crypto.sealed import Sealed


def _uuid() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


def _sealed_column(name: str) -> Mapped[bytes | None]:
    return mapped_column(f"{name}_sealed", LargeBinary, nullable=True)


# Personal fields are `Sealed`: their columns (`<name>_sealed`) hold AES-GCM ciphertext under
# the row owner's data key (backend/core/crypto); what must stay queryable stays clear.


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    _title: Mapped[bytes | None] = _sealed_column("title")
    _description: Mapped[bytes | None] = _sealed_column("description")
    _client_email: Mapped[bytes | None] = _sealed_column("client_email")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    area: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    urgency: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    _triage: Mapped[bytes | None] = _sealed_column("triage")
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True
    )
    # The batch the case was submitted in, and its position there (None for a single case).
    batch_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    batch_index: Mapped[int | None] = mapped_column(Integer, nullable=True)

    title = Sealed[str]("_title", "cases.title")
    description = Sealed[str]("_description", "cases.description")
    client_email = Sealed[str | None]("_client_email", "cases.client_email")
    triage = Sealed[dict[str, Any] | None]("_triage", "cases.triage", json=True)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    _filename: Mapped[bytes | None] = _sealed_column("filename")
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    _text: Mapped[bytes | None] = _sealed_column("text")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    _analysis: Mapped[bytes | None] = _sealed_column("analysis")
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    # The stored file: its name under uploads_dir (the document id; NULL once retention has
    # removed it), its digest, and why parsing it failed, if it did.
    storage_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    analysed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )

    filename = Sealed[str]("_filename", "documents.filename")
    text = Sealed[str | None]("_text", "documents.text")
    analysis = Sealed[dict[str, Any] | None]("_analysis", "documents.analysis", json=True)


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    period_hours: Mapped[int] = mapped_column(Integer, default=24)
    format: Mapped[str] = mapped_column(String(8), default="csv")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # "platform": every client's cases and tasks (operators); "own": the owner's only.
    scope: Mapped[str] = mapped_column(String(16), default="platform", server_default="platform")


class SentNotification(Base):
    """One row per e-mail sent, keyed by the message's idempotency key: exactly one per event."""

    __tablename__ = "sent_notifications"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class DeadLetter(Base):
    """A task that failed for good, or a message no worker could run: kept until replayed or
    discarded, in SQL so that it outlives Redis (backend/platform/dead_letters.py)."""

    __tablename__ = "dead_letters"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    queue: Mapped[str] = mapped_column(String(50), index=True)
    priority: Mapped[str | None] = mapped_column(String(16), nullable=True)
    owner: Mapped[str] = mapped_column(String(128), default="system")
    _args: Mapped[bytes | None] = _sealed_column("args")
    _kwargs: Mapped[bytes | None] = _sealed_column("kwargs")
    error_type: Mapped[str] = mapped_column(String(200))
    _error_message: Mapped[bytes | None] = _sealed_column("error_message")
    _traceback: Mapped[bytes | None] = _sealed_column("traceback")
    _history: Mapped[bytes | None] = _sealed_column("history")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # failed | unknown_task | undecodable
    reason: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    replayed_as: Mapped[str | None] = mapped_column(String(64), nullable=True)
    discarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    args = Sealed[list[Any]]("_args", "dead_letters.args", json=True)
    kwargs = Sealed[dict[str, Any]]("_kwargs", "dead_letters.kwargs", json=True)
    error_message = Sealed[str]("_error_message", "dead_letters.error_message")
    traceback = Sealed[str | None]("_traceback", "dead_letters.traceback")
    history = Sealed[list[dict[str, Any]]]("_history", "dead_letters.history", json=True)


class OutboxEntry(Base):
    """A task accepted in the same SQL transaction as its domain row, not yet on the broker.

    Published right after the commit; whatever is left (Redis was down, the process died
    in between) is published by the relay (backend/platform/outbox.py). The task id is fixed
    here, so publishing twice is refused by the enqueue script and never runs a task twice.
    """

    __tablename__ = "outbox"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    task_name: Mapped[str] = mapped_column(String(200))
    # The TaskRequest's fields (backend/platform/outbox.py: to_payload / from_payload).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Batch(Base):
    """Cases submitted together: counts of done and failed items, and who to tell at the end."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # running | completed
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    _notify_email: Mapped[bytes | None] = _sealed_column("notify_email")
    _callback_url: Mapped[bytes | None] = _sealed_column("callback_url")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    completed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )

    notify_email = Sealed[str | None]("_notify_email", "batches.notify_email")
    callback_url = Sealed[str | None]("_callback_url", "batches.callback_url")


class Recipient(Base):
    """An e-mail address a client named (a case's client e-mail, a batch's notify e-mail), and
    whether it may get that client's mail (backend/services/recipients.py). One row per
    (client, address): `address_digest` is a keyed digest of both (the address itself only
    sealed); `token` is the live confirmation link's token, sealed, for the worker that mails
    it."""

    __tablename__ = "recipients"
    __table_args__ = (UniqueConstraint("owner", "address_digest", name="uq_recipients_owner"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    address_digest: Mapped[str] = mapped_column(String(64))
    _address: Mapped[bytes | None] = _sealed_column("address")
    # pending | confirmed | account | revoked (backend.core.enums.RecipientState)
    state: Mapped[str] = mapped_column(String(16), index=True)
    _token: Mapped[bytes | None] = _sealed_column("token")
    # How many confirmation e-mails were sent, the last one's time and its link's expiry.
    sends: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    address = Sealed[str]("_address", "recipients.address")
    token = Sealed[str | None]("_token", "recipients.token")


class DataKey(Base):
    """An owner's data key, wrapped by a key-encryption key (backend/core/crypto/keyring.py).
    Deleting the row makes every copy of the owner's sealed data unreadable."""

    __tablename__ = "data_keys"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(32), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PrivacyEvent(Base):
    """The privacy audit trail: exports, erasures, retention runs (backend/platform/privacy_audit).
    The subject is a keyed pseudonym, never the name: it survives the subject's erasure."""

    __tablename__ = "privacy_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    subject_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditEntry(Base):
    """One audited action (backend/platform/audit.py): append-only, each row's `hash` chained
    to the previous row's. Never the personal data itself: who, what kind, which id."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The audit chain's head (one row): the last seq and hash. Appenders update it first, which
    serialises them (a row lock in PostgreSQL, the write lock in SQLite) and lets `verify` see
    a deleted last row."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
