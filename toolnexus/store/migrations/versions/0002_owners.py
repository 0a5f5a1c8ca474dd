"""Version 2: runs name their owner (and when its process started); owners keep a heartbeat.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from toolnexus.store.tables import REAL, TEXT

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Owner columns on runs, the owners table, and the index of running runs by owner."""
    op.add_column("runs", sa.Column("owner", TEXT))
    op.add_column("runs", sa.Column("process_start", TEXT))
    op.create_table(
        "owners",
        sa.Column("owner", TEXT, primary_key=True), sa.Column("heartbeat", REAL, nullable=False),
        sa.Column("interval", REAL, nullable=False))
    # Only running runs are in it: what close() asks ("has this owner runs going?") stays cheap.
    op.create_index("runs_running", "runs", ["owner"], sqlite_where=sa.text("status = 'running'"),
                    postgresql_where=sa.text("status = 'running'"))
