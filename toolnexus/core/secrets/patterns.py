"""The free-text nets: credential formats, secret-named pairs, credentials in URLs, bare 40-hex keys and
high-entropy tokens, each skipped when a cheap test says it cannot match."""

from __future__ import annotations

import math
import re
from collections import Counter

from toolnexus.core.secrets.names import REDACTED

# Words that name a secret as the key of a `key=value` pair in free text (fewer than for structured keys:
# "pass: 3" or "auth: ok" in a log line are not credentials).
_TEXT_KEY_WORDS = (r"passwords?|passwd|pwd|passphrase|secrets?|token|api[_-]?keys?|apikey|access[_-]?keys?|"
                   r"private[_-]?key|secret[_-]?key|credentials?|session[_-]?id|authorization|cookie")
# Known credential formats, each alternative led by a literal (grouped by first letter) so that the regex
# engine skips every position that cannot start one; the word boundary before is checked on a match.
_FORMATS = re.compile("|".join([
    r"s(?:k-ant-[A-Za-z0-9_-]{16,}|k-[A-Za-z0-9_-]{16,})",  # Anthropic; OpenAI / Stripe style
    r"[pr]k-[A-Za-z0-9_-]{16,}",
    r"g(?:h[pousr]_[A-Za-z0-9]{30,}|ithub_pat_[A-Za-z0-9_]{40,})",  # GitHub
    r"xox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
    r"A(?:KIA[0-9A-Z]{16}(?![0-9A-Za-z])|Iza[0-9A-Za-z_-]{35})",  # AWS access key id; Google API key
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT
    r"[Bb](?i:earer|asic)\s+[A-Za-z0-9._~+/=-]{12,}",  # an Authorization header's credentials
]))
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----")
_URL = re.compile(r"(://[^:/\s@]+:)[^@/\s]+(?=@)")  # credentials in a URL: only the password goes
# `password=…`, `token: …`, `"api_key": "…"`, `X-Api-Key: …`, `Authorization: Bearer …`: the value goes,
# special characters and all (up to white space, a quote, or a separator of pairs). The key word only
# (`db_password`'s prefix stays as it is): a repeated prefix group would backtrack quadratically over a
# long dotted name.
_PAIR = re.compile(
    r"((?i:(?<![A-Za-z0-9])(?:" + _TEXT_KEY_WORDS + r"))[\"']?[ \t]*[:=][ \t]*)"
    r"(\"[^\"\n]*\"|'[^'\n]*'|(?i:(?:bearer|basic|token|digest)[ \t]+)?[^\s\"'<>,;&]+)")
# Cheap test (on the lower-cased text) for whether a pair can be there at all.
_PAIR_HINT = re.compile(r"pass|pwd|secret|token|key|credential|session|authorization|cookie")
_HEX = re.compile(r"(?<![0-9A-Za-z_])[0-9a-fA-F]{40}(?![0-9A-Za-z_])")
# Token-sized runs only: long base64 payloads (files, images) are data, not credentials.
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{24,128}(?![A-Za-z0-9+/_=-])")
# What precedes a 40-hex run that is a git object id ("commit a94a…", "sha: a94a…", "parent=a94a…",
# ".../commit/a94a…" in a URL).
_OBJECT_ID_BEFORE = re.compile(
    r"(?i:\b(?:commit|sha1?|hexsha|parent|tree|blob|object|oid|revision|rev|head)\b[\"']?[ \t]*[:=/]?[ \t]*[\"']?)$")
# A value of a pair that is no secret of its own: already redacted, a mission expression, or the start of a
# YAML/JSON structure (`api_token: {type: string}` declares a mission input).
_NOT_A_VALUE = re.compile(r"[\"']?(\*\*\*[\"']?$|\$\{\{|[{\[])")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _high_entropy(token: str) -> bool:
    # Long, mixed-class, near-random strings: API keys and tokens, not words, paths or hex digests of ours.
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes >= 3 and _entropy(token) >= 4.0


def _format(match: re.Match[str]) -> str:
    start = match.start()
    if start and (match.string[start - 1].isalnum() or match.string[start - 1] == "_"):
        return match.group(0)  # inside a word (`task-…`, `mask-…`): not where a token starts
    return REDACTED


def _pair(match: re.Match[str]) -> str:
    return match.group(0) if _NOT_A_VALUE.match(match.group(2)) else match.group(1) + REDACTED


def _hex(match: re.Match[str]) -> str:
    if _OBJECT_ID_BEFORE.search(match.string, max(0, match.start() - 24), match.start()):
        return match.group(0)
    return REDACTED


def _candidate(match: re.Match[str]) -> str:
    return REDACTED if _high_entropy(match.group(0)) else match.group(0)


def redact_patterns(text: str, *, object_ids: bool = False) -> str:
    """``text`` with what the nets catch replaced by ``***`` (bare 40-hex runs kept when ``object_ids``)."""
    # One net after another, each skipped when a substring test says it cannot match: a clean string
    # costs a few passes of the regex engine, not one per pattern.
    if "PRIVATE KEY-----" in text:
        text = _PEM.sub(REDACTED, text)
    if "://" in text:
        text = _URL.sub(lambda m: m.group(1) + REDACTED, text)
    text = _FORMATS.sub(_format, text)
    if _PAIR_HINT.search(text.lower()):
        text = _PAIR.sub(_pair, text)
    if not object_ids:
        text = _HEX.sub(_hex, text)
    return _CANDIDATE.sub(_candidate, text)
