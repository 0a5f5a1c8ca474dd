"""Scrubbing secrets out of data before it leaves for logs, tracking or a client.

Two nets: keys whose names say "secret" (password, token, api_key, authorization, …) and values that
look like credentials — known token formats, and long high-entropy strings.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from toolnexus.core.content import MARKER

REDACTED = "***"

# A key names a secret when its last word does: `api_key`, `github_token`, `client_secret`, `Authorization`
# — but not `max_tokens` or `token_count`, which are numbers about tokens.
_SECRET_KEY = re.compile(
    r"(^|[_.\-])(passwords?|passwd|pass|secrets?|token|api[_-]?keys?|apikey|authorization|auth|credentials?|"
    r"private[_-]?key|access[_-]?key|session[_-]?id|cookie|signature)$", re.IGNORECASE)
_KNOWN = [
    re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}\b"),  # OpenAI / Stripe style
    re.compile(r"\bsk-ant-[A-Za-z0-9_-]{16,}\b"),  # Anthropic
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),  # GitHub
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),  # Slack
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),  # JWT
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{12,}"),
    re.compile(r"(?i)(://[^:/\s]+:)[^@/\s]+(@)"),  # credentials in a URL
]
# Token-sized runs only: long base64 payloads (files, images) are data, not credentials.
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{24,128}(?![A-Za-z0-9+/_=-])")


# Content blocks that carry bytes, and their base64 fields (see toolnexus.core.content).
_BINARY = frozenset({"image", "audio", "resource"})
_PAYLOAD = frozenset({"data", "blob"})


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _high_entropy(token: str) -> bool:
    # Long, mixed-class, near-random strings: API keys and tokens, not words, paths or hex digests of ours.
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes >= 3 and _entropy(token) >= 4.0


def scrub_text(text: str) -> str:
    """``text`` with credential-looking substrings replaced by ``***``."""
    for pattern in _KNOWN:
        if pattern.groups >= 2 and "://" in pattern.pattern:
            text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return _CANDIDATE.sub(lambda m: REDACTED if _high_entropy(m.group(0)) else m.group(0), text)


def scrub(value: Any, *, key: str | None = None) -> Any:
    """A copy of ``value`` (any JSON shape) with secret-named keys and credential-like strings redacted."""
    if key is not None and _SECRET_KEY.search(key) and isinstance(value, str | dict | list) and value:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        if value.get(MARKER) in _BINARY:  # a binary content block: its base64 payload is data, whatever its entropy
            return {k: v if k in _PAYLOAD and isinstance(v, str) else scrub(v, key=str(k)) for k, v in value.items()}
        return {k: scrub(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
