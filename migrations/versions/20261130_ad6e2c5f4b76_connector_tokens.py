"""Handing credentials over: one-time reveal links and connector tokens, both stored as SHA-256 only

Revision ID: ad6e2c5f4b76
Revises: 9c5f1b4e3a65
Create Date: 2026-11-30 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ad6e2c5f4b76"
down_revision: str | None = "9c5f1b4e3a65"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vault_reveal_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "secret_field",
            sa.Enum(
                "client_secret",
                "private_key",
                name="vault_secret_field",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["api_credentials.id"],
            name=op.f("fk_vault_reveal_links_credential_id_api_credentials"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_vault_reveal_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_reveal_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_vault_reveal_links_token_sha256")),
    )
    with op.batch_alter_table("vault_reveal_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vault_reveal_links_credential_id"), ["credential_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vault_reveal_links_user_id"), ["user_id"], unique=False)

    op.create_table(
        "connector_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("habilitation_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["habilitation_id"], ["habilitations.id"], name=op.f("fk_connector_tokens_habilitation_id_habilitations")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_connector_tokens_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_connector_tokens_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"], ["users.id"], name=op.f("fk_connector_tokens_revoked_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_connector_tokens_token_sha256")),
    )
    with op.batch_alter_table("connector_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connector_tokens_habilitation_id"), ["habilitation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("connector_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connector_tokens_habilitation_id"))
    op.drop_table("connector_tokens")
    with op.batch_alter_table("vault_reveal_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_reveal_links_user_id"))
        batch_op.drop_index(batch_op.f("ix_vault_reveal_links_credential_id"))
    op.drop_table("vault_reveal_links")
