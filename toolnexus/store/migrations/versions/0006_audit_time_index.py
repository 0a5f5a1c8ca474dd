"""Version 6: the audit log's index on ``at`` goes. Every record is appended in a commit of its own (a mission step's,
a call's), and the index's last page was written to the log at each of them beside the record's own: a third of what
a record cost the commit. What it served — ``audit report --since``, ``policy observed --since`` — reads the records
in seq order and filters on ``at`` (the other filters already scan: the tool and principal are inside the body).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop ``audit_records_by_time`` (where there is one: a database may have had its tables made before they
    were versioned)."""
    op.drop_index("audit_records_by_time", table_name="audit_records", if_exists=True)

