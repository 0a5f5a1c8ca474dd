"""Diagnostics for user mistakes: what is wrong, where (file:line:column) and what to do about it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from toolnexus.errors import InvalidInput


class Diagnostic(BaseModel):
    """One problem found in user input, positioned so an editor or a person can jump to it."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    hint: str | None = None
    code: str = "error"

    def location(self) -> str:
        """Where the problem is, as ``file:line:column`` (as much as is known), the form editors jump to."""
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{self.location()}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class DiagnosticError(InvalidInput):
    """Raised when user input has problems; carries every one found in a single pass."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def did_you_mean(word: str, candidates: Iterable[str], prefix: str = "") -> str | None:
    """A "did you mean …?" hint naming the closest candidate, or ``None`` when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{prefix}{matches[0]}`?" if matches else None
