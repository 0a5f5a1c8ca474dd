"""Scrubbing secrets out of data before it reaches any record: output, store, events, MLflow, MCP, logs.

One scrubber, applied once at the boundary (where the engine first records inputs and arguments, and
where a call's result leaves its runtime). Three nets:

- **keys** whose names say "secret" (``password``, ``api_token``, ``Authorization``, ``clientSecret`` …):
  their values are redacted whatever they look like, and remembered as known secrets (below);
- **patterns** in free text: known token formats, ``key=value`` / ``key: value`` pairs whose key names a
  secret (``password=…``, ``token=xK9#mQ2$…``, ``"api_key": "…"``), credentials in URLs and
  ``Authorization`` headers, bare 40-hex-character keys, and long high-entropy strings;
- **known secrets**: values the process knows are secret — environment variables whose names say so
  (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, ``*_KEY``, ``*CREDENTIAL*`` …), values a tool or its
  configuration declares (:func:`declare_secret`; secret-named ``env`` of a tool entry or an MCP server,
  secret-named inputs and arguments) — removed wherever any fragment of 8 or more of their characters
  appears, as they are or encoded (hex, base64 at any byte alignment, URL-encoding).

Bare 40-hex strings: a 40-hex key (a SHA-1-sized API key, e.g. a GitHub classic OAuth token) looks
exactly like a git object id. We keep the ones that are *said* to be object ids — the value of a field
named ``commit``/``sha``/``hash``/``parent``/``revision``/``oid``… or text that names them just before
(``commit a94a8f…``, ``sha: a94a8f…``) — and scrub every other bare 40-hex run.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from toolnexus.core.content import MARKER
from toolnexus.core.context import CallChannel
from toolnexus.core.errors import ToolError

REDACTED = "***"
#: The shortest part of a known secret that is removed wherever it appears.
MIN_FRAGMENT = 8

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

# -- free-text patterns: a few nets, each skipped when a cheap test says it cannot match -----------------------

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


# -- known secrets: fragments of 8+ characters, as they are or encoded ---------------------------------------

_ENV_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "APIKEY", "API_KEY",
              "PRIVATE_KEY", "ACCESS_KEY", "AUTH_KEY")
_ENV_PARTS = frozenset({"KEY", "PASS", "PAT", "AUTH", "COOKIE", "SESSION"})
# Variables that name where a secret is, or something about it, not the secret itself.
_ENV_NOT_VALUE = frozenset({"SOCK", "SOCKET", "PATH", "FILE", "DIR", "HOME", "URL", "URI", "HOST", "USER",
                            "USERNAME", "NAME", "TYPE", "BACKEND", "COMMAND", "CMD", "PARALLELISM"})
_WINDOW = 4  # anchors are 4-character grams of the secrets' forms, looked up every 5th position
_STRIDE = MIN_FRAGMENT - _WINDOW + 1
# A long-lived server sees many secret-named arguments: past this many declared values (a few hundred windows
# each, ~15 MB in all), the oldest quarter is forgotten.
_MAX_DECLARED = 256


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
def _object_id_key(key: str) -> bool:
    return bool(_OBJECT_ID_KEY.search(key))


def _forms(secret: str) -> set[str]:
    """How ``secret`` may appear in a record: as it is, hex, base64 (both alphabets, each byte alignment —
    a secret inside a longer encoded text lands at any of three offsets) and URL-encoded."""
    data = secret.encode()
    forms = {secret, data.hex(), data.hex().upper(), quote(secret, safe="")}
    for lead in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * lead + data).decode()
            # Only the characters made of the secret's bits alone: the others depend on its neighbours.
            forms.add(encoded[-(-8 * lead // 6):8 * (lead + len(data)) // 6])
    return {form for form in forms if len(form) >= MIN_FRAGMENT}


class _Index:
    """Every 8-character window of the known secrets' forms, and their 4-character grams as anchors.

    A fragment of 8+ characters starting at position p holds a gram-aligned position q in [p, p+4] (one
    every 5th position), whose 4-gram is one of a form's: so a text is checked with a set lookup at every
    5th position, and the 8-windows only around the rare anchor hits — about 2 µs for a 100-character
    string, 50 ms for a megabyte, whatever the number of secrets.
    """

    __slots__ = ("grams", "windows")

    def __init__(self, secrets: Iterable[str]) -> None:
        self.windows: set[str] = set()
        self.grams: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Take more secrets in (in place: a lookup from another thread sees the sets before or after each
        addition, which the GIL makes whole)."""
        windows: set[str] = set()
        for secret in secrets:
            for form in _forms(secret):
                windows.update(form[i:i + MIN_FRAGMENT] for i in range(len(form) - MIN_FRAGMENT + 1))
        self.grams.update(w[i:i + _WINDOW] for w in windows for i in range(MIN_FRAGMENT - _WINDOW + 1))
        self.windows.update(windows)  # after the grams: a window is never found without its anchor

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where fragments of the secrets are in ``text``, as merged ``(start, end)`` spans."""
        grams, windows = self.grams, self.windows
        starts: list[int] = []
        last = -1
        for q in range(0, len(text) - _WINDOW + 1, _STRIDE):
            if text[q:q + _WINDOW] in grams:
                for p in range(max(q - MIN_FRAGMENT + _WINDOW, last + 1), q + 1):
                    if text[p:p + MIN_FRAGMENT] in windows:
                        starts.append(p)
                last = q
        spans: list[tuple[int, int]] = []
        for p in starts:
            if spans and p <= spans[-1][1]:
                spans[-1] = (spans[-1][0], p + MIN_FRAGMENT)
            else:
                spans.append((p, p + MIN_FRAGMENT))
        return spans


class KnownSecrets:
    """The values this process knows are secret: its environment's and those declared to it.

    Thread-safe: declaring (only a new value costs anything) adds to the index in place under a lock;
    a changed environment, or forgetting the oldest declared values, builds a new index and swaps it in.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._declared: dict[str, None] = {}  # ordered: the oldest is forgotten first
        self._environment: frozenset[str] = frozenset()
        self._environ = environ
        self._environ_size = -1
        self._index: _Index | None = None
        #: Goes up whenever the set of known secrets changes (for caches of scrubbed text).
        self.generation = 0

    def refresh_environment(self, environ: Mapping[str, str] | None = None) -> None:
        """Read the secrets of ``environ`` (default: ``os.environ``) again."""
        source = environ if environ is not None else self._environ if self._environ is not None else os.environ
        values = frozenset(value for name, value in source.items() if secret_env_name(name) and _usable(value))
        with self._lock:
            self._environ_size = len(source)
            if values != self._environment:
                self._environment = values
                self._rebuild()

    def declare(self, *values: Any) -> None:
        """Treat each of ``values`` (strings of 8+ characters; others are ignored) as a secret from now on."""
        new = [v for v in values if isinstance(v, str) and _usable(v) and v not in self._declared]
        if not new:
            return
        with self._lock:
            new = [v for v in dict.fromkeys(new) if v not in self._declared]
            self._declared.update(dict.fromkeys(new))
            if len(self._declared) > _MAX_DECLARED:
                for old in list(self._declared)[:_MAX_DECLARED // 4]:
                    del self._declared[old]
                self._rebuild()
            elif self._index is None:
                self._rebuild()
            else:
                self._index.add(new)
                self.generation += 1

    def _rebuild(self) -> None:
        secrets = self._environment | self._declared.keys()
        self._index = _Index(secrets) if secrets else None
        self.generation += 1

    def _current(self) -> _Index | None:
        # A variable set or removed since the last look (cheap to notice: the size changed) is read again.
        environ = self._environ if self._environ is not None else os.environ
        if len(environ) != self._environ_size:
            self.refresh_environment()
        return self._index

    def __contains__(self, value: object) -> bool:
        return value in self._declared or value in self._environment

    def redact(self, text: str) -> str:
        """``text`` with every fragment (8+ characters) of a known secret, plain or encoded, replaced."""
        if len(text) < MIN_FRAGMENT:
            return text
        index = self._current()
        if index is None:
            return text
        spans = index.spans(text)
        if not spans:
            return text
        parts: list[str] = []
        at = 0
        for start, end in spans:
            parts += [text[at:start], REDACTED]
            at = end
        parts.append(text[at:])
        return "".join(parts)


def _usable(value: str) -> bool:
    # Shorter values are too common to remove wherever they appear (key names still catch them); a path
    # names where a secret is kept, and removing it would blank out every path that shares its folders.
    return len(value) >= MIN_FRAGMENT and not value.isspace() and not (value[0] in "/~." and os.path.exists(value))


#: The known secrets of this process.
KNOWN = KnownSecrets()


def declare_secret(*values: str) -> None:
    """Declare values as secrets: from now on they, their fragments of 8+ characters and their encodings
    are removed from every record (outputs, the state store, events, MLflow, MCP results and logs)."""
    KNOWN.declare(*values)


def declare_named_secrets(value: Any) -> None:
    """Declare every string held under a secret-named key anywhere in ``value`` (a JSON shape): the
    ``env`` of a tool entry or an MCP server, its ``headers``, a configuration."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str) and secret_key(str(key)):
                KNOWN.declare(item)
            else:
                declare_named_secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            declare_named_secrets(item)


# -- the scrubber -------------------------------------------------------------------------------------------


def scrub_text(text: str, *, object_ids: bool = False) -> str:
    """``text`` with secrets replaced by ``***``: known secrets in part or encoded, credential formats,
    secret-named pairs, bare 40-hex keys (kept when ``object_ids``: the text is a git object id) and
    high-entropy tokens."""
    text = KNOWN.redact(text)
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


def _expression(value: str) -> bool:
    # A mission's `${{ inputs.api_token }}` names where a secret comes from; it is not one.
    return value.startswith("${{") and value.endswith("}}")


def scrub(value: Any, *, key: str | None = None, keep_shape: bool = False) -> Any:
    """``value`` (any JSON shape) with secrets redacted: a copy where something was, ``value`` itself
    (every part of it) where nothing was — so a clean value costs no copy, and ``is`` tells whether it changed.

    Strings under secret-named keys become ``***`` and are remembered as known secrets (so an echo of
    them elsewhere goes too); every other string goes through :func:`scrub_text`. A list or mapping under
    a secret-named key becomes ``***`` as a whole — unless ``keep_shape``: a structure of ours (a plan,
    whose ``inputs.api_token`` declares an input) keeps its shape, and only its strings are redacted.
    """
    if isinstance(value, str):
        return _scrub_string(value, key)
    if isinstance(value, dict):
        return _scrub_mapping(value, keep_shape)
    if isinstance(value, list | tuple):
        if key is not None and value and not keep_shape and secret_key(key):
            KNOWN.declare(*(v for v in value if isinstance(v, str)))
            return REDACTED
        return _scrub_sequence(value, keep_shape)
    return value


def _scrub_string(value: str, key: str | None) -> str:
    if key is not None and value and secret_key(key) and not _expression(value):
        KNOWN.declare(value)
        return REDACTED
    clean = scrub_text(value, object_ids=key is not None and _object_id_key(key))
    return value if clean == value else clean


def _scrub_sequence(value: list[Any] | tuple[Any, ...], keep_shape: bool) -> list[Any] | tuple[Any, ...]:
    changed: list[Any] | None = None
    for i, v in enumerate(value):
        if isinstance(v, _SCALARS):
            continue
        new = scrub(v, keep_shape=keep_shape)
        if new is not v:
            if changed is None:
                changed = list(value)
            changed[i] = new
    return value if changed is None else changed


def _scrub_mapping(value: dict[Any, Any], keep_shape: bool) -> dict[Any, Any]:
    binary = value.get(MARKER) in _BINARY  # a binary content block: its base64 payload is data, whatever its entropy
    changed: dict[Any, Any] | None = None
    for k, v in value.items():
        if isinstance(v, _SCALARS):
            continue  # the common case, without a call
        payload = binary and k in _PAYLOAD and isinstance(v, str)
        new = KNOWN.redact(v) if payload else _scrub_item(k, v, keep_shape)
        if new is not v:
            if changed is None:
                changed = dict(value)
            changed[k] = new
    return value if changed is None else changed


_SCALARS = (type(None), bool, int, float)


def _scrub_item(key: Any, value: Any, keep_shape: bool) -> Any:
    if isinstance(value, dict) and value and not keep_shape and secret_key(str(key)):
        declare_named_secrets({str(k): v for k, v in value.items()})
        return REDACTED
    return scrub(value, key=str(key), keep_shape=keep_shape)


# Content blocks that carry bytes, and their base64 fields (see toolnexus.core.content).
_BINARY = frozenset({"image", "audio", "resource"})
_PAYLOAD = frozenset({"data", "blob"})


def scrub_error(error: ToolError) -> ToolError:
    """``error`` with its message and details scrubbed (the same object when there was nothing to remove)."""
    message, details = scrub_text(error.message), scrub(error.details) if error.details else error.details
    if message == error.message and details == error.details:
        return error
    return error.model_copy(update={"message": message, "details": details})


_clean_lock = threading.Lock()
_clean: set[tuple[Any, int]] = set()


def scrub_recorded(key: Any, value: Any) -> Any:
    """:func:`scrub` (keeping the shape: a plan must still load) or :func:`scrub_text` for a value recorded
    again and again — a mission's plan and source, run after run: ``value`` itself once it was found clean
    under ``key`` with the same known secrets, so a big plan costs one scrub per distinct plan, not one per run."""
    memo = (key, KNOWN.generation)
    if memo in _clean:
        return value
    clean = scrub_text(value) if isinstance(value, str) else scrub(value, keep_shape=True)
    if clean is value or clean == value:
        with _clean_lock:
            if len(_clean) >= 256:
                _clean.clear()
            _clean.add(memo)
        return value
    return clean


class ScrubbingChannel(CallChannel):
    """A caller's channel whose progress messages and log records are scrubbed before they go out.

    Everything else — questions to the caller, its capabilities — passes through unchanged.
    """

    def __init__(self, inner: CallChannel) -> None:
        self.inner = inner

    @property  # type: ignore[override]
    def wants_progress(self) -> bool:
        return self.inner.wants_progress

    @property  # type: ignore[override]
    def log_level(self) -> int | None:
        return self.inner.log_level

    def for_call(self, call: Any, spec: Any) -> CallChannel:
        scoped = self.inner.for_call(call, spec)
        return self if scoped is self.inner else ScrubbingChannel(scoped)

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.inner.progress(progress, total, scrub_text(message) if message else message)

    def log(self, record: logging.LogRecord) -> None:
        self.inner.log(scrub_record(record))

    def can(self, capability: str) -> bool:
        return self.inner.can(capability)

    async def sample(self, messages: list[dict[str, Any]], max_tokens: int, *, key: str | None = None,
                     **options: Any) -> dict[str, Any]:
        return await self.inner.sample(messages, max_tokens, key=key, **options)

    async def elicit(self, message: str, schema: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
        return await self.inner.elicit(message, schema, key=key)

    async def list_roots(self, *, key: str | None = None) -> dict[str, Any]:
        return await self.inner.list_roots(key=key)

    def __getattr__(self, name: str) -> Any:  # what a particular channel adds (an MCP channel's own state)
        return getattr(self.inner, name)


# -- log records ---------------------------------------------------------------------------------------------


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` with its message (and formatted exception) scrubbed, in place; untouched when clean."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: the handler will say so; scrub the format
        message = str(record.msg)
    clean = scrub_text(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = scrub_text(text)
    elif record.exc_text:
        record.exc_text = scrub_text(record.exc_text)
    return record


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs each record's message (put it on a handler of your own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


_factory_lock = threading.Lock()
_factory_installed = False


def install_log_scrubbing() -> None:
    """Scrub every log record of this process as it is made (once per process; idempotent).

    A record factory, not a handler filter: a record reaches handlers we do not own (the application's,
    Jupyter's, an MCP client's forwarder) and must be clean before any of them sees it. Records of
    disabled levels are never made, so they cost nothing.
    """
    global _factory_installed
    with _factory_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return scrub_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(make)
        _factory_installed = True
