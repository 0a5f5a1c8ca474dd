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

The parts, one module each: :mod:`.names` (which names say secret), :mod:`.patterns` (the free-text
nets), :mod:`.fragments` and :mod:`.known` (the known secrets and finding their fragments),
:mod:`.scrub` (the scrubber of JSON shapes, text and errors), :mod:`.channel` and :mod:`.logs` (a
caller's channel and log records, scrubbed).
"""

from toolnexus.core.secrets.channel import ScrubbingChannel
from toolnexus.core.secrets.fragments import MIN_FRAGMENT
from toolnexus.core.secrets.known import KNOWN, KnownSecrets, declare_named_secrets, declare_secret
from toolnexus.core.secrets.logs import ScrubFilter, install_log_scrubbing, scrub_record
from toolnexus.core.secrets.names import REDACTED, secret_env_name, secret_key
from toolnexus.core.secrets.scrub import scrub, scrub_error, scrub_recorded, scrub_text

__all__ = [
    "KNOWN",
    "MIN_FRAGMENT",
    "REDACTED",
    "KnownSecrets",
    "ScrubFilter",
    "ScrubbingChannel",
    "declare_named_secrets",
    "declare_secret",
    "install_log_scrubbing",
    "scrub",
    "scrub_error",
    "scrub_record",
    "scrub_recorded",
    "scrub_text",
    "secret_env_name",
    "secret_key",
]
