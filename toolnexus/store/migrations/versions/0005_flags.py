"""Version 5: rollout flags set in the store (`toolnexus flags set`), layered over [flags] of toolnexus.toml:
one row a flag, its definition as JSON; who changed it is also in the audit log.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from toolnexus.store.tables import REAL, TEXT

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The flags table (where missing: a database may have had it before it was versioned)."""
    if "flags" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "flags",
            sa.Column("name", TEXT, primary_key=True), sa.Column("value", TEXT, nullable=False),
            sa.Column("by", TEXT), sa.Column("at", REAL, nullable=False))
