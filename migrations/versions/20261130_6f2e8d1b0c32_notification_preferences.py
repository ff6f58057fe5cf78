"""Notification preferences: which notifications of DOMAIN §10 each user has turned off

Revision ID: 6f2e8d1b0c32
Revises: 5e1d7c0a9b21
Create Date: 2026-11-30 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6f2e8d1b0c32"
down_revision: str | None = "5e1d7c0a9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copied from tracker.notify.kinds.NotificationKind at the time of writing: a migration must not change
# meaning when the enum later does.
NOTIFICATION_KINDS = (
    "submission_received",
    "submission_to_instruct",
    "changes_requested",
    "approved",
    "refused",
    "revoked",
    "api_management",
    "invitation",
    "attestation_invalidated",
    "expiry_reminder",
    "habilitation_expired",
)


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *NOTIFICATION_KINDS, name="notification_kind", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint("user_id", "kind", name=op.f("uq_notification_preferences_user_id_kind")),
    )


def downgrade() -> None:
    op.drop_table("notification_preferences")
