"""The secrets this process knows: its environment's secret-named variables and the values declared to it."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from toolnexus.core.secrets.fragments import MIN_FRAGMENT, FragmentIndex
from toolnexus.core.secrets.names import REDACTED, secret_env_name, secret_key

# A long-lived server sees many secret-named arguments: past this many declared values (a few hundred windows
# each, ~15 MB in all), the oldest quarter is forgotten.
_MAX_DECLARED = 256


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
        self._index: FragmentIndex | None = None
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
            self._index_declared(new)

    def _index_declared(self, new: list[str]) -> None:
        """Make the values just declared findable (under the lock): added to the index in place, or in a
        new index when there is none yet or the oldest declared values are forgotten."""
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
        self._index = FragmentIndex(secrets) if secrets else None
        self.generation += 1

    def generation_now(self) -> int:
        """:attr:`generation` once a variable set or removed since the last look is read (as a scrub reads it):
        what a cache of scrubbed text compares, so a secret put in the environment since is not missed."""
        self._current()
        return self.generation

    def _current(self) -> FragmentIndex | None:
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
