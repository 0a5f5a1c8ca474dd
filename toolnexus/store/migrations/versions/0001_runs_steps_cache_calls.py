"""Version 1: the tables as they were before the schema had a version (a database made then may have them
already, at user_version 0: they are made only where missing).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from toolnexus.store.tables import INTEGER, PACKED, REAL, TEXT

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Make runs, steps, cache and calls where they are missing."""
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "runs" not in have:
        op.create_table(
            "runs",
            sa.Column("run_id", TEXT, primary_key=True), sa.Column("mission", TEXT, nullable=False),
            sa.Column("mission_version", TEXT), sa.Column("status", TEXT, nullable=False),
            sa.Column("plan_hash", TEXT), sa.Column("inputs", TEXT), sa.Column("plan", PACKED),
            sa.Column("source", PACKED), sa.Column("source_path", TEXT), sa.Column("resumed_from", TEXT),
            sa.Column("started_at", TEXT), sa.Column("finished_at", TEXT), sa.Column("duration", REAL),
            sa.Column("cost", REAL), sa.Column("currency", TEXT), sa.Column("error", TEXT),
            sa.Column("outputs", TEXT), sa.Column("pid", INTEGER), sa.Column("host", TEXT))
        op.create_index("runs_by_mission", "runs", ["mission", "started_at"])
    if "steps" not in have:
        op.create_table(
            "steps",
            sa.Column("run_id", TEXT, primary_key=True), sa.Column("step_id", TEXT, primary_key=True),
            sa.Column("record", TEXT, nullable=False), sa.Column("status", TEXT, nullable=False))
    if "cache" not in have:
        op.create_table(
            "cache",
            sa.Column("key", TEXT, primary_key=True), sa.Column("tool", TEXT, nullable=False),
            sa.Column("version", TEXT, nullable=False), sa.Column("output", TEXT), sa.Column("cost", REAL),
            sa.Column("created_at", TEXT))
    if "calls" not in have:
        op.create_table(
            "calls",
            sa.Column("call_id", TEXT, primary_key=True), sa.Column("tool", TEXT), sa.Column("version", TEXT),
            sa.Column("origin", TEXT), sa.Column("arguments", TEXT), sa.Column("result", TEXT),
            sa.Column("at", TEXT))
