"""Version 4: the governance tables (approvals, kill switches, the audit log). Before they were versioned each
was made by its module on first use, so a database at version 3 may have them already: made where missing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from toolnexus.store.tables import BIG, INTEGER, REAL, TEXT

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _approvals() -> None:
    op.create_table(
        "approvals",
        sa.Column("ticket", TEXT, primary_key=True), sa.Column("status", TEXT, nullable=False),
        sa.Column("tool", TEXT, nullable=False), sa.Column("version", TEXT), sa.Column("arguments", TEXT),
        sa.Column("principal", TEXT), sa.Column("tenant", TEXT), sa.Column("surface", TEXT),
        sa.Column("correlation_id", TEXT), sa.Column("run_id", TEXT), sa.Column("step_id", TEXT),
        sa.Column("rule", TEXT), sa.Column("reason", TEXT), sa.Column("digest", TEXT, nullable=False),
        sa.Column("policy_version", TEXT),
        sa.Column("four_eyes", INTEGER, nullable=False, server_default=sa.text("0")),
        sa.Column("approvers", TEXT), sa.Column("channels", TEXT),
        sa.Column("requested_at", REAL, nullable=False), sa.Column("deadline", REAL, nullable=False),
        sa.Column("decided_by", TEXT), sa.Column("decided_at", REAL), sa.Column("decision_reason", TEXT),
        sa.Column("channel", TEXT), sa.Column("scope", TEXT), sa.Column("pattern", TEXT),
        sa.Column("grant_until", REAL), sa.Column("uses_left", INTEGER))
    op.create_index("approvals_by_status", "approvals", ["status", "deadline"])
    op.create_index("approvals_grants", "approvals", ["tool", "status"], sqlite_where=sa.text("status = 'granted'"),
                    postgresql_where=sa.text("status = 'granted'"))


def _kill_switches() -> None:
    op.create_table(
        "kill_switches",
        sa.Column("id", INTEGER, primary_key=True, autoincrement=True), sa.Column("scope", TEXT, nullable=False),
        sa.Column("target", TEXT, nullable=False), sa.Column("reason", TEXT, nullable=False),
        sa.Column("by", TEXT), sa.Column("at", REAL, nullable=False),
        sa.Column("active", INTEGER, nullable=False, server_default=sa.text("1")),
        sa.Column("lifted_by", TEXT), sa.Column("lifted_at", REAL),
        sqlite_autoincrement=True)
    op.create_index("kill_switches_active", "kill_switches", ["scope", "target"], sqlite_where=sa.text("active = 1"),
                    postgresql_where=sa.text("active = 1"))


def _audit() -> None:
    op.create_table(
        "audit_records",
        sa.Column("seq", BIG, primary_key=True, autoincrement=False), sa.Column("at", TEXT, nullable=False),
        sa.Column("kind", TEXT, nullable=False), sa.Column("body", TEXT, nullable=False),
        sa.Column("prev", TEXT, nullable=False), sa.Column("hash", TEXT, nullable=False))
    op.create_index("audit_records_by_time", "audit_records", ["at"])


def _audit_checkpoints() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", BIG, primary_key=True, autoincrement=False), sa.Column("head", TEXT, nullable=False),
        sa.Column("at", TEXT, nullable=False), sa.Column("signature", TEXT), sa.Column("key_id", TEXT))


def upgrade() -> None:
    """Make the governance tables where they are missing."""
    have = set(sa.inspect(op.get_bind()).get_table_names())
    for name, make in (("approvals", _approvals), ("kill_switches", _kill_switches), ("audit_records", _audit),
                       ("audit_checkpoints", _audit_checkpoints)):
        if name not in have:
            make()
