"""``policy`` commands of the toolnexus CLI (issue 16: governance)."""

from __future__ import annotations
