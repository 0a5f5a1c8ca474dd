"""Version matching for ``uses: name@1``, ``name@1.2``, ``name@1.2.3`` and ``name@latest``."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from packaging.version import InvalidVersion, Version


@lru_cache(maxsize=4096)
def parse_version(text: str) -> Version:
    """A comparable version; raises ``ValueError`` with a clear message for a bad one."""
    try:
        return Version(text)
    except InvalidVersion:
        raise ValueError(f"{text!r} is not a version: use numbers such as 1, 1.2 or 1.2.3") from None


def matches(version: str, wanted: str | None) -> bool:
    """Whether ``version`` satisfies ``wanted``: a prefix of its release numbers, or latest/None."""
    if wanted in (None, "", "latest", "*"):
        return True
    wanted_version = parse_version(wanted)
    if wanted_version.pre or wanted_version.post is not None or wanted_version.dev is not None:
        return parse_version(version) == wanted_version  # a pre-/post-release is pinned exactly
    have = parse_version(version).release
    want = wanted_version.release
    return have[: len(want)] == want or (len(want) > len(have) and want == have + (0,) * (len(want) - len(have)))


def newest(versions: Iterable[str]) -> str:
    """The highest version, preferring final releases: a pre-release wins only when nothing else is there."""
    ordered = sorted(versions, key=parse_version)
    finals = [v for v in ordered if not parse_version(v).is_prerelease]
    return (finals or ordered)[-1]


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"files.read@1"`` → ``("files.read", "1")``; no ``@`` → no version."""
    name, sep, version = ref.partition("@")
    return name, (version or None) if sep else None
