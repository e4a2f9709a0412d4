"""personal data sealed at rest (AES-GCM per owner), data_keys, privacy_events

Each personal column `<name>` becomes `<name>_sealed` (ciphertext under the row owner's data
key); existing rows are encrypted on the way (DATA_KEYS, or DATA_KEYS_FILE outside production,
is needed only if there are rows to encrypt). Downgrade decrypts them back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 06:00:00
"""

from __future__ import annotations

import json
from typing import Any

from alembic import op
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# table -> [(column, is_json, clear type for downgrade)]
SEALED: dict[str, list[tuple[str, bool, Any]]] = {
    "cases": [
        ("title", False, sa.String(300)),
        ("description", False, sa.Text()),
        ("client_email", False, sa.String(320)),
        ("triage", True, sa.JSON()),
    ],
    "documents": [
        ("filename", False, sa.String(255)),
        ("text", False, sa.Text()),
        ("analysis", True, sa.JSON()),
    ],
    "dead_letters": [
        ("args", True, sa.JSON()),
        ("kwargs", True, sa.JSON()),
        ("error_message", False, sa.String(500)),
        ("traceback", False, sa.Text()),
        ("history", True, sa.JSON()),
    ],
    "batches": [("notify_email", False, sa.String(320)), ("callback_url", False, sa.String(2000))],
}
_KEY_COLUMN = {"cases": "id", "documents": "id", "dead_letters": "task_id", "batches": "id"}


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("owner"),
    )
    op.create_index("ix_data_keys_kek_id", "data_keys", ["kek_id"])
    op.create_table(
        "privacy_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("subject_ref", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_privacy_events_at", "privacy_events", ["at"])
    op.create_index("ix_privacy_events_action", "privacy_events", ["action"])
    op.create_index("ix_privacy_events_subject_ref", "privacy_events", ["subject_ref"])
    for table, columns in SEALED.items():
        with op.batch_alter_table(table) as batch:
            for name, _, _ in columns:
                batch.add_column(sa.Column(f"{name}_sealed", sa.LargeBinary(), nullable=True))
    keys = _Keys()
    for table, columns in SEALED.items():
        _convert(table, columns, keys, seal=True)
    for table, columns in SEALED.items():
        with op.batch_alter_table(table) as batch:
            for name, _, _ in columns:
                batch.drop_column(name)


def downgrade() -> None:
    for table, columns in SEALED.items():
        with op.batch_alter_table(table) as batch:
            for name, _, clear_type in columns:
                batch.add_column(sa.Column(name, clear_type, nullable=True))
    keys = _Keys()
    for table, columns in SEALED.items():
        _convert(table, columns, keys, seal=False)
    for table, columns in SEALED.items():
        with op.batch_alter_table(table) as batch:
            for name, _, _ in columns:
                batch.drop_column(f"{name}_sealed")
    op.drop_table("privacy_events")
    op.drop_table("data_keys")


class _Keys:
    """Owners' data keys read and created on the migration's own connection."""

    def __init__(self) -> None:
        self._ring: Any = None
        self._keys: dict[str, AESGCM] = {}

    def ring(self) -> Any:
        if self._ring is None:
            from backend.core.crypto.keyring import key_ring

            self._ring = key_ring()
        return self._ring

    def get(self, owner: str) -> AESGCM:
        if owner in self._keys:
            return self._keys[owner]
        bind = op.get_bind()
        row = bind.execute(
            sa.text("SELECT kek_id, wrapped FROM data_keys WHERE owner = :o"), {"o": owner}
        ).first()
        if row is None:
            from datetime import UTC, datetime

            from backend.core.crypto.aead import new_key

            kek_id, wrapped = self.ring().wrap(new_key(), owner)
            bind.execute(
                sa.text(
                    "INSERT INTO data_keys (owner, kek_id, wrapped, created_at) "
                    "VALUES (:o, :k, :w, :t)"
                ),
                {"o": owner, "k": kek_id, "w": wrapped, "t": datetime.now(UTC)},
            )
        else:
            kek_id, wrapped = row[0], bytes(row[1])
        self._keys[owner] = AESGCM(self.ring().unwrap(kek_id, wrapped, owner))
        return self._keys[owner]


def _convert(table: str, columns: list[tuple[str, bool, Any]], keys: _Keys, *, seal: bool) -> None:
    from backend.core.crypto import aead

    bind = op.get_bind()
    pk = _KEY_COLUMN[table]
    source = [name if seal else f"{name}_sealed" for name, _, _ in columns]
    rows = bind.execute(sa.text(f"SELECT {pk}, owner, {', '.join(source)} FROM {table}")).all()  # noqa: S608
    for row in rows:
        row_id, owner, values = row[0], row[1], row[2:]
        changes: dict[str, Any] = {}
        for (name, is_json, _), value in zip(columns, values, strict=True):
            if value is None:
                continue
            aad = f"{table}.{name}:{owner}".encode()
            if seal:
                raw = (
                    json.dumps(json.loads(value) if isinstance(value, str) else value,
                               ensure_ascii=False, separators=(",", ":")).encode()
                    if is_json
                    else str(value).encode()
                )
                changes[f"{name}_sealed"] = aead.seal(keys.get(owner), raw, aad)
            else:
                raw = aead.unseal(keys.get(owner), bytes(value), aad)
                changes[name] = raw.decode()
        if changes:
            assignments = ", ".join(f"{col} = :{col}" for col in changes)
            bind.execute(
                sa.text(f"UPDATE {table} SET {assignments} WHERE {pk} = :pk"),  # noqa: S608
                {**changes, "pk": row_id},
            )
