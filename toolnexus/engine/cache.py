"""Cache keys: identical tool, version and (normalised) arguments give the identical key."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def cache_key(tool: str, version: str, arguments: dict[str, Any]) -> str:
    """The cache key of a call of ``tool`` at ``version`` with ``arguments``: a SHA-256 hex digest."""
    body = json.dumps([tool, version, arguments], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
