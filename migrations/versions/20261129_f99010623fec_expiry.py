"""Expiry: the soonest lapsing date of an habilitation, reminders sent once, timeline notices

Revision ID: f99010623fec
Revises: e808a546f8e1
Create Date: 2026-11-29 01:24:24.479282
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f99010623fec"
down_revision: str | None = "e808a546f8e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "expiry_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("habilitation_id", sa.Integer(), nullable=False),
        sa.Column("date_key", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["habilitation_id"],
            ["habilitations.id"],
            name=op.f("fk_expiry_reminders_habilitation_id_habilitations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["habilitation_requests.id"],
            name=op.f("fk_expiry_reminders_request_id_habilitation_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expiry_reminders")),
        sa.UniqueConstraint(
            "request_id",
            "date_key",
            "due_on",
            "days_before",
            name=op.f("uq_expiry_reminders_request_id_date_key_due_on_days_before"),
        ),
    )
    with op.batch_alter_table("habilitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_on", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_habilitations_expires_on"), ["expires_on"], unique=False)

    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notice", sa.String(length=32), nullable=True))
        batch_op.alter_column("event", existing_type=sa.VARCHAR(length=32), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.alter_column("event", existing_type=sa.VARCHAR(length=32), nullable=False)
        batch_op.drop_column("notice")

    with op.batch_alter_table("habilitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_habilitations_expires_on"))
        batch_op.drop_column("expires_on")

    op.drop_table("expiry_reminders")
