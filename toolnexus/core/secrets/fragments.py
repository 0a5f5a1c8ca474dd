"""Finding fragments of known secrets in text: 8+ characters of one, as it is or encoded, in any text."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote

#: The shortest part of a known secret that is removed wherever it appears.
MIN_FRAGMENT = 8
_WINDOW = 4  # anchors are 4-character grams of the secrets' forms, looked up every 5th position
_STRIDE = MIN_FRAGMENT - _WINDOW + 1


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


class FragmentIndex:
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
