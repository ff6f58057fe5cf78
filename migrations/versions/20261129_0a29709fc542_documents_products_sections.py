"""Documents, software products, and the request's link to the éditeur's sandbox habilitation

Revision ID: 0a29709fc542
Revises: f1c25bd340b8
Create Date: 2026-11-29 00:47:10.246836
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0a29709fc542"
down_revision: str | None = "f1c25bd340b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "software_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("editeur_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_software_products_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["editeur_id"], ["organizations.id"], name=op.f("fk_software_products_editeur_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_software_products")),
        sa.UniqueConstraint("editeur_id", "name", "version", name=op.f("uq_software_products_editeur_id_name_version")),
    )
    with op.batch_alter_table("software_products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_software_products_editeur_id"), ["editeur_id"], unique=False)

    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(
                "sandbox", "production", name="request_stage", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("section_key", sa.String(length=64), nullable=False),
        sa.Column("field_key", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=80), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by_organization_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["habilitation_requests.id"],
            name=op.f("fk_documents_request_id_habilitation_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_documents_uploaded_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_organization_id"],
            ["organizations.id"],
            name=op.f("fk_documents_uploaded_by_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_documents_storage_key")),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index("ix_documents_request_section", ["request_id", "section_key", "field_key"], unique=False)

    with op.batch_alter_table("habilitation_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("software_product_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("editeur_sandbox_habilitation_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_habilitation_requests_software_product_id"), ["software_product_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_habilitation_requests_software_product_id_software_products"),
            "software_products",
            ["software_product_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_habilitation_requests_editeur_sandbox_habilitation_id_habilitations"),
            "habilitations",
            ["editeur_sandbox_habilitation_id"],
            ["id"],
            use_alter=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("habilitation_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_habilitation_requests_editeur_sandbox_habilitation_id_habilitations"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_habilitation_requests_software_product_id_software_products"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_habilitation_requests_software_product_id"))
        batch_op.drop_column("editeur_sandbox_habilitation_id")
        batch_op.drop_column("software_product_id")

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index("ix_documents_request_section")

    op.drop_table("documents")
    with op.batch_alter_table("software_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_software_products_editeur_id"))

    op.drop_table("software_products")
