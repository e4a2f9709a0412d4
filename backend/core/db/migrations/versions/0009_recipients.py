"""recipients: the addresses each client named for its notification e-mail, and whether they
confirmed (a signed link) or are the account's own

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("address_digest", sa.String(length=64), nullable=False),
        sa.Column("address_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("token_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "address_digest", name="uq_recipients_owner"),
    )
    op.create_index("ix_recipients_owner", "recipients", ["owner"])
    op.create_index("ix_recipients_state", "recipients", ["state"])


def downgrade() -> None:
    op.drop_index("ix_recipients_state", table_name="recipients")
    op.drop_index("ix_recipients_owner", table_name="recipients")
    op.drop_table("recipients")
