"""Version 3: who made each call and started each run (a Caller as JSON), and the correlation id that ties a
call to its retries and sub-calls, a run to its steps' calls.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from toolnexus.store.tables import TEXT

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Caller and correlation id columns on calls and runs."""
    for table in ("calls", "runs"):
        op.add_column(table, sa.Column("caller", TEXT))
        op.add_column(table, sa.Column("correlation_id", TEXT))
