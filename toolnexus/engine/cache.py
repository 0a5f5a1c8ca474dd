"""Cache keys: identical tool, version and (normalised) arguments give the identical key."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def cache_key(tool: str, version: str, arguments: dict[str, Any]) -> str:
    body = json.dumps([tool, version, arguments], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
