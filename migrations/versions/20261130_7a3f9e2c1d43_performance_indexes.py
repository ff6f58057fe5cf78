"""Performance indexes: trigram indexes for the instruction list's text search (PostgreSQL)

The list finds a request by its title, the name of its organization or any text of its sections. Without an
index, PostgreSQL reads every section of every request (800 ms on tier M of PERFORMANCE.md); pg_trgm's
GIN indexes answer « contains » searches (LIKE '%…%') directly (about 15 ms).

SQLite has no trigram index. It gets an empty index of the same name instead (a partial index whose
condition no row meets: nothing stored, nothing to maintain), so that both databases carry the same
index names and the migrations match the models on either.

pg_trgm is a trusted extension (PostgreSQL 13 and later): the owner of the database may create it.

Revision ID: 7a3f9e2c1d43
Revises: 6f2e8d1b0c32
Create Date: 2026-11-30 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "7a3f9e2c1d43"
down_revision: str | None = "6f2e8d1b0c32"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, the expression searched, the column SQLite's placeholder names)
TRIGRAM_INDEXES = (
    ("ix_habilitation_requests_intitule_trigram", "habilitation_requests", "lower(intitule)", "intitule"),
    ("ix_organizations_name_trigram", "organizations", "lower(name)", "name"),
    ("ix_request_sections_text_trigram", "request_sections", "lower(CAST(data AS VARCHAR))", "data"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        # Where the extension lives: public, unless it was installed elsewhere before (offline, the SQL
        # script assumes public).
        schema = (
            "public"
            if context.is_offline_mode()
            else bind.execute(
                sa.text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'")
            ).scalar_one()
        )
        for name, table, expression, _column in TRIGRAM_INDEXES:
            op.create_index(
                name, table, [sa.text(f"{expression} {schema}.gin_trgm_ops")], unique=False, postgresql_using="gin"
            )
        return
    for name, table, _expression, column in TRIGRAM_INDEXES:
        op.create_index(name, table, [column], unique=False, sqlite_where=sa.text("0"))


def downgrade() -> None:
    for name, table, _expression, _column in TRIGRAM_INDEXES:
        op.drop_index(name, table_name=table)
    # The extension stays: other objects of the database may use it, and it holds no data.
