"""What marks a secret: the names of fields and environment variables that hold one, and what replaces it."""

from __future__ import annotations

import re
from functools import lru_cache

#: What a secret becomes in every record.
REDACTED = "***"

# A key names a secret when its last word does: `api_key`, `github_token`, `client_secret`, `Authorization`,
# `apiKey` — but not `max_tokens` or `token_count`, which are numbers about tokens.
_SECRET_KEY = re.compile(
    r"(^|[_.\-\s])(passwords?|passwd|pwd|pass|passphrase|secrets?|token|api[_-]?keys?|apikey|authorization|auth|"
    r"credentials?|private[_-]?key|access[_-]?key|secret[_-]?key|session[_-]?id|cookie|signature)$", re.IGNORECASE)
_SECRET_CAMEL_KEY = re.compile(
    r"[a-z0-9](Password|Passwd|Passphrase|Secret|Token|Credentials?|SessionId|ApiKey|AccessKey|PrivateKey|SecretKey)$"
    r"|^api(Key|Token)$")
# A key whose value is an object id, not a credential: a bare 40-hex value there is a git SHA.
_OBJECT_ID_KEY = re.compile(
    r"(^|[_.\-\s])(commits?|sha1?|hash|hexsha|digest|checksum|revision|rev|oid|parents?|head|tree|object(_?id)?)$",
    re.IGNORECASE)

_ENV_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "APIKEY", "API_KEY",
              "PRIVATE_KEY", "ACCESS_KEY", "AUTH_KEY")
_ENV_PARTS = frozenset({"KEY", "PASS", "PAT", "AUTH", "COOKIE", "SESSION"})
# Variables that name where a secret is, or something about it, not the secret itself.
_ENV_NOT_VALUE = frozenset({"SOCK", "SOCKET", "PATH", "FILE", "DIR", "HOME", "URL", "URI", "HOST", "USER",
                            "USERNAME", "NAME", "TYPE", "BACKEND", "COMMAND", "CMD", "PARALLELISM"})


def secret_env_name(name: str) -> bool:
    """Whether an environment variable's name says its value is a secret (``GITHUB_TOKEN``, ``DB_PASSWORD``,
    ``OPENAI_API_KEY``, ``AWS_SECRET_ACCESS_KEY`` — not ``SSH_AUTH_SOCK``, ``PWD`` or ``KEYRING_BACKEND``)."""
    upper = name.upper()
    parts = re.split(r"[_.\-]", upper)
    if parts[-1] in _ENV_NOT_VALUE:
        return False
    return any(word in upper for word in _ENV_WORDS) or any(part in _ENV_PARTS for part in parts)


@lru_cache(maxsize=4096)  # field names repeat call after call: a dict lookup, not two regex searches
def secret_key(key: str) -> bool:
    """Whether a field named ``key`` holds a secret (``password``, ``api_token``, ``clientSecret`` …)."""
    return bool(_SECRET_KEY.search(key) or _SECRET_CAMEL_KEY.search(key))


@lru_cache(maxsize=4096)
def object_id_key(key: str) -> bool:
    """Whether a field named ``key`` holds a git object id (``commit``, ``sha``, ``parent`` …), not a credential."""
    return bool(_OBJECT_ID_KEY.search(key))
