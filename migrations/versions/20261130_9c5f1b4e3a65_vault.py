"""Credentials vault: API credentials per habilitation and stage, secrets as AES-256-GCM envelopes

Revision ID: 9c5f1b4e3a65
Revises: 8b4e0a3f2d54
Create Date: 2026-11-30 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c5f1b4e3a65"
down_revision: str | None = "8b4e0a3f2d54"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("habilitation_id", sa.Integer(), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(
                "sandbox",
                "production",
                name="request_stage",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("id_teleservice", sa.String(length=64), nullable=False),
        sa.Column("oauth_scopes", sa.JSON(), nullable=False),
        sa.Column("token_url", sa.String(length=500), nullable=False),
        sa.Column("api_base_url", sa.String(length=500), nullable=False),
        sa.Column("granted_scopes", sa.JSON(), nullable=False),
        sa.Column("modalities", sa.JSON(), nullable=False),
        sa.Column("quota_per_minute", sa.Integer(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "superseded",
                "revoked",
                "expired",
                name="credential_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("client_certificate_pem", sa.Text(), nullable=True),
        sa.Column("private_key_encrypted", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["habilitation_id"], ["habilitations.id"], name=op.f("fk_api_credentials_habilitation_id_habilitations")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_api_credentials_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_api_credentials_updated_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_credentials")),
    )
    with op.batch_alter_table("api_credentials", schema=None) as batch_op:
        batch_op.create_index("ix_api_credentials_habilitation_status", ["habilitation_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_credentials_key_id"), ["key_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_credentials_key_id"))
        batch_op.drop_index("ix_api_credentials_habilitation_status")
    op.drop_table("api_credentials")
