"""Notification kinds: « credentials available » (DOMAIN §10), which a user may choose like the others

The kind column's CHECK constraint lists the kinds; it is replaced by one that also admits the new kind.

Revision ID: cf8a4e7b6d98
Revises: be7f3d6a5c87
Create Date: 2026-11-30 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cf8a4e7b6d98"
down_revision: str | None = "be7f3d6a5c87"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Copied, not imported: a migration must not change meaning when the enum later does.
PREVIOUS_KINDS = (
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
KINDS = (*PREVIOUS_KINDS, "credentials_available")
CONSTRAINT = "notification_kind"  # named ck_notification_preferences_notification_kind by the convention


def _replace_check(kinds: tuple[str, ...]) -> None:
    # SQLite cannot alter a constraint: batch mode copies the table; PostgreSQL alters it in place.
    with op.batch_alter_table("notification_preferences", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_notification_preferences_{CONSTRAINT}"), type_="check")
        batch_op.create_check_constraint(CONSTRAINT, sa.column("kind").in_(kinds))


def upgrade() -> None:
    _replace_check(KINDS)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM notification_preferences WHERE kind = 'credentials_available'"))
    _replace_check(PREVIOUS_KINDS)
