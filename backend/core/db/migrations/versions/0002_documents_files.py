"""documents: stored file name and digest, parse error, analysis time

Revision ID: 0002_documents_files
Revises: 0001
Create Date: 2026-11-30 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0002_documents_files"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("storage_path", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("error", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("analysed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("analysed_at")
        batch_op.drop_column("error")
        batch_op.drop_column("sha256")
        batch_op.drop_column("storage_path")
