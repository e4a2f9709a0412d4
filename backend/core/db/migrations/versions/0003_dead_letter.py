"""dead_letters: tasks that failed for good and messages no worker could run

Revision ID: 0003_dead_letter
Revises: 0002_documents_files
Create Date: 2026-11-29 07:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0003_dead_letter"
down_revision = "0002_documents_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("queue", sa.String(length=50), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("error_type", sa.String(length=200), nullable=False),
        sa.Column("error_message", sa.String(length=500), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_as", sa.String(length=64), nullable=True),
        sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index("ix_dead_letters_name", ["name"], unique=False)
        batch_op.create_index("ix_dead_letters_queue", ["queue"], unique=False)
        batch_op.create_index("ix_dead_letters_reason", ["reason"], unique=False)
        batch_op.create_index("ix_dead_letters_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letters_created_at")
        batch_op.drop_index("ix_dead_letters_reason")
        batch_op.drop_index("ix_dead_letters_queue")
        batch_op.drop_index("ix_dead_letters_name")
    op.drop_table("dead_letters")
