"""indexes for retention: cases.updated_at, documents.analysed_at, batches.completed_at,
sent_notifications.sent_at (maintenance.purge_expired selects rows by these ages)

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 09:00:00
"""

from alembic import op


revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_cases_updated_at", "cases", "updated_at"),
    ("ix_documents_analysed_at", "documents", "analysed_at"),
    ("ix_batches_completed_at", "batches", "completed_at"),
    ("ix_sent_notifications_sent_at", "sent_notifications", "sent_at"),
]


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
