"""Internal notes: what the DGFiP keeps about a request, never shown to the parties

Revision ID: 756e730c37c3
Revises: 4b7ec3125220
Create Date: 2026-11-29 02:10:16.502301
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "756e730c37c3"
down_revision: str | None = "4b7ec3125220"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "internal_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_internal_notes_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["habilitation_requests.id"],
            name=op.f("fk_internal_notes_request_id_habilitation_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_internal_notes")),
    )
    with op.batch_alter_table("internal_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_internal_notes_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("internal_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_internal_notes_request_id"))

    op.drop_table("internal_notes")
