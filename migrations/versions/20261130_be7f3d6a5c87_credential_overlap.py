"""Credential overlap: until when a renewed secret's predecessor keeps working

Revision ID: be7f3d6a5c87
Revises: ad6e2c5f4b76
Create Date: 2026-11-30 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "be7f3d6a5c87"
down_revision: str | None = "ad6e2c5f4b76"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_credentials") as batch:
        batch.add_column(sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_credentials") as batch:
        batch.drop_column("valid_until")
