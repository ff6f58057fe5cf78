"""Instruction: who took a request in hand, and the indexed end of the instruction deadline

Revision ID: 4b7ec3125220
Revises: f99010623fec
Create Date: 2026-11-29 01:41:05.488640
"""

import calendar
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "4b7ec3125220"
down_revision: str | None = "f99010623fec"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_assignments",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["habilitation_requests.id"],
            name=op.f("fk_request_assignments_request_id_habilitation_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_request_assignments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_assignments")),
    )
    with op.batch_alter_table("request_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_assignments_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("habilitation_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_habilitation_requests_deadline_at"), ["deadline_at"], unique=False)

    # Requests already under instruction get their deadline: two calendar months after the clock started
    # (computed here, row by row: SQL has no portable « add calendar months »; not in offline SQL mode).
    if op.get_context().as_sql:
        return
    requests = sa.table(
        "habilitation_requests",
        sa.column("id", sa.Integer),
        sa.column("deadline_started_at", sa.DateTime(timezone=True)),
        sa.column("deadline_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    running = bind.execute(
        sa.select(requests.c.id, requests.c.deadline_started_at).where(requests.c.deadline_started_at.is_not(None))
    ).all()
    for request_id, started_at in running:
        bind.execute(
            requests.update().where(requests.c.id == request_id).values(deadline_at=_two_months_after(started_at))
        )


def _two_months_after(moment: datetime) -> datetime:
    """Same day two months later, or that month's last day (a copy: migrations never import app code)."""
    month_index = moment.month + 1
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def downgrade() -> None:
    with op.batch_alter_table("habilitation_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_habilitation_requests_deadline_at"))
        batch_op.drop_column("deadline_at")

    with op.batch_alter_table("request_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_assignments_user_id"))

    op.drop_table("request_assignments")
