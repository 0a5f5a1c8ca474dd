"""Bounds on the work user input directs: a budget of steps and time, and sizes checked before building.

A template, an expression or a tool's return value can ask for far more than it looks: ``'x' * 10**10``,
``2 ** 10**9``, ``'{:>999999999}'.format(1)``, or a list that holds itself twice sixty times over (small in
memory, 2**60 values once written out). What builds values on a user's behalf checks here first, and each
refusal is a ``limit_exceeded`` failure that says which bound and what to do.

Pure computation, no I/O: the Jinja2 side of these checks is in :mod:`toolnexus.core.templating`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from toolnexus.core.errors import ErrorKind, ToolFailure

MAX_RANGE = 100_000  # the most numbers a range() may hold (Jinja2's sandbox's own bound)
MAX_INT_BITS = 2**16  # the largest integer ``*`` and ``**`` may build (about 20,000 digits)


def exceeded(message: str, **details: Any) -> ToolFailure:
    """A ``limit_exceeded`` failure with ``details`` naming the bound."""
    return ToolFailure(message, kind=ErrorKind.LIMIT_EXCEEDED, details=details)


@dataclass(frozen=True)
class Bounds:
    """What one evaluation (a render, an expression) may do, and how its refusals speak.

    ``subject`` names what is evaluated ("template"), ``counted`` what a step is ("loop iterations and
    calls"), ``verb`` what it does ("render") and ``advice`` what to do past a bound ("render less at once").
    """

    subject: str
    counted: str
    verb: str
    advice: str
    max_value: int  # characters or items of any one value built (and characters of a value made text)
    max_steps: int
    timeout: float  # seconds
    max_int_bits: int = MAX_INT_BITS
    clock_every: int = 256  # steps between looks at the clock


class Budget:
    """One evaluation's bounds and what it has used of them; its checks run before a value is built."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.steps = 0
        self.deadline = time.monotonic() + bounds.timeout

    # -- steps and time ------------------------------------------------------------------------------------

    def step(self) -> None:
        """Count one step (a loop iteration, a call); past the budget or the deadline, refuse."""
        self.steps += 1
        bounds = self.bounds
        if self.steps > bounds.max_steps:
            raise exceeded(f"{bounds.subject} took more than {bounds.max_steps:,} steps ({bounds.counted}); "
                           f"{bounds.advice}", max_steps=bounds.max_steps)
        if self.steps % bounds.clock_every == 0:
            self.check_time()

    def check_time(self) -> None:
        """Refuse once the deadline has passed."""
        if time.monotonic() > self.deadline:
            bounds = self.bounds
            raise exceeded(f"{bounds.subject} took longer than {bounds.timeout:g}s to {bounds.verb}; "
                           f"{bounds.advice}", timeout=bounds.timeout)

    def counted(self, items: Iterable[Any]) -> Iterator[Any]:
        """``items``, a step for each."""
        for item in items:
            self.step()
            yield item

    # -- sizes ---------------------------------------------------------------------------------------------

    def sized(self, value: Any) -> Any:
        """``value``, if it is within the cap (as text or as a number of items)."""
        if isinstance(value, str | bytes | list | tuple | dict | set) and len(value) > self.bounds.max_value:
            raise exceeded(f"{self.bounds.subject} built a value of {len(value):,} characters or items, over "
                           f"the {self.bounds.max_value:,} cap", max_output=self.bounds.max_value)
        return value

    def within(self, size: int, what: str) -> None:
        """Refuse to build ``what`` when it would be ``size`` characters or items, over the cap."""
        if size > self.bounds.max_value:
            raise exceeded(f"{self.bounds.subject} would build {what} of {size:,} characters or items, over the "
                           f"{self.bounds.max_value:,} cap", max_output=self.bounds.max_value)

    def text_of(self, value: Any, what: str = "a text") -> None:
        """Refuse to make ``value`` text (``str``, ``~``, a format) when the text would be over the cap: a list
        that shares its parts is measured with each part counted as often as it appears."""
        if isinstance(value, dict | list | tuple | set | frozenset):
            self.within(json_lower_bound(value, self.bounds.max_value), what)

    def check_int_bits(self, bits: int) -> None:
        """Refuse an integer of ``bits`` bits over the cap."""
        if bits > self.bounds.max_int_bits:
            raise exceeded(f"{self.bounds.subject} would build a number of over {self.bounds.max_int_bits:,} bits",
                           max_int_bits=self.bounds.max_int_bits)

    # -- operators and methods -----------------------------------------------------------------------------

    def check_binop(self, operator: str, left: Any, right: Any) -> None:
        """Check ``left <operator> right`` before it is computed (``*``, ``**`` and ``%`` build the most)."""
        if operator == "*":
            self._check_product(left, right)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            self.check_int_bits(max(abs(left).bit_length(), 1) * right)
        elif operator == "%" and isinstance(left, str):
            self.check_percent_format(left, right)

    def _check_product(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and isinstance(right, int):
            self.check_int_bits(abs(left).bit_length() + abs(right).bit_length())
            return
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
                self.within(len(sequence) * times, "a repeated value")
                if isinstance(sequence, list | tuple) and any(isinstance(i, str | list | tuple | dict)
                                                              for i in sequence):
                    # Repeats share their parts: measure what they stand for as text.
                    self.within(json_lower_bound(sequence, self.bounds.max_value) * times, "a repeated value")

    def check_percent_format(self, text: str, args: Any) -> None:
        """``text % args`` stays within the cap: its text, its arguments and its fields' widths together
        (a ``*`` width comes from ``args``)."""
        given = args if isinstance(args, tuple) else (args,)
        star = max((abs(a) for a in given if isinstance(a, int)), default=0)
        padding = sum(star if width == "*" else int(width)
                      for match in _PERCENT_SPEC.finditer(text) for width in match.groups() if width)
        self.within(len(text) + padding + sum(_text_bound(a, self.bounds.max_value) for a in given),
                    "a formatted text")

    def check_format_spec(self, spec: str) -> None:
        """A ``str.format`` spec pads (width) or extends (precision) no field beyond the cap."""
        for width in _DIGITS.findall(spec):
            self.within(int(width), "a formatted field")

    def check_method(self, name: str, text: str | bytes, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """String methods that can build far more than they are given, checked before they run; the arguments
        to call them with (what ``join`` joins, made a list: measuring must not use up an iterator)."""
        if name == "join" and args and not isinstance(args[0], list | tuple):
            args = (list(self.counted(args[0])), *args[1:])
        given = [*args, *kwargs.values()]
        if name in ("center", "ljust", "rjust", "zfill"):
            self.within(max([a for a in given if isinstance(a, int)], default=0), f"a padded text ({name})")
        elif name == "expandtabs":
            size = max([a for a in given if isinstance(a, int)], default=8)
            self.within(len(text) + text.count("\t" if isinstance(text, str) else b"\t") * size, "an expanded text")
        elif name == "replace" and len(given) >= 2:
            self.within(replaced_size(text, given[0], given[1]), "a replaced text")
        elif name == "join" and args:
            self.within(joined_size(text, args[0]), "a joined text")
        elif name == "translate" and given and isinstance(given[0], dict):
            longest = max((len(v) for v in given[0].values() if isinstance(v, str)), default=1)
            self.within(len(text) * longest, "a translated text")
        return args

    def bounded_range(self, *args: int) -> range:
        """``range(*args)``, refused over :data:`MAX_RANGE` numbers."""
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise exceeded(f"{self.bounds.subject} would build a range() of {len(numbers):,} numbers, over the "
                           f"{MAX_RANGE:,} cap", max_range=MAX_RANGE)
        return numbers


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _text_bound(value: Any, cap: int) -> int:
    """About the length of ``value`` as text, at least (24 for a scalar that is not a string)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict | list | tuple | set | frozenset):
        return json_lower_bound(value, cap)
    return 24


def joined_size(separator: Any, items: list[Any] | tuple[Any, ...]) -> int:
    """The length of ``separator.join(items)`` (8 for an item that is not a string)."""
    return len(separator) * max(len(items) - 1, 0) + sum(len(i) if isinstance(i, str) else 8 for i in items)


def replaced_size(text: Any, old: Any, new: Any) -> int:
    """The length of ``text.replace(old, new)`` (0 for a mix of types, which replace itself refuses)."""
    if not isinstance(text, str | bytes) or not type(text) is type(old) is type(new):
        return 0
    count = len(text) + 1 if not old else text.count(old)
    return len(text) + count * (len(new) - len(old))


# -- values as JSON ------------------------------------------------------------------------------------------

DEFAULT_MAX_OUTPUT = 16 * 2**20  # Limits.max_output's default: what a tool's output may be as JSON

# The output cap of the call under way, set by the runtime that calls a tool in this process (a tool's
# wrapper measures what it returns against it before converting it).
_output_cap: ContextVar[int | None] = ContextVar("toolnexus_output_cap", default=DEFAULT_MAX_OUTPUT)


def output_cap() -> int | None:
    """The output cap (characters of JSON) of the call under way; :data:`DEFAULT_MAX_OUTPUT` outside one."""
    return _output_cap.get()


@contextmanager
def capping_output(cap: int | None) -> Iterator[None]:
    """Make ``cap`` the output cap of the call that runs inside (None: no cap of ours)."""
    token = _output_cap.set(cap)
    try:
        yield
    finally:
        _output_cap.reset(token)



def check_output_size(output: Any, cap: int | None) -> None:
    """Refuse an output whose JSON text would be over ``cap`` characters, with ``limit_exceeded``.

    An in-process tool hands back objects, measured here without serialising an over-large one (a
    structure that shares parts can stand for far more text than it holds in memory).
    """
    if not cap or not isinstance(output, dict | list | tuple | str):
        return
    if json_size(output, cap) is None:
        raise exceeded(f"output is over the {cap}-byte cap (as JSON)", max_output=cap)


def json_size(value: Any, cap: int) -> int | None:
    """The length of ``value`` as JSON text (``json.dumps(value, default=str)``), or None if it is over ``cap``.

    A lower bound of the length is added up first (:func:`json_lower_bound`); only a value under ``cap`` by
    that bound is serialised to measure it.
    """
    if isinstance(value, str):
        size = len(json.dumps(value)) if len(value) <= cap else cap + 1
    else:
        size = len(json.dumps(value, default=str)) if json_lower_bound(value, cap) <= cap else cap + 1
    return size if size <= cap else None


def json_lower_bound(value: Any, cap: int, known: dict[int, tuple[Any, int]] | None = None) -> int:
    """At most the length of ``value`` as JSON (or as ``str()``), capped at ``cap + 1``.

    Each container is walked once and its bound kept by id, and a container's parts count as often as they
    appear: a list that holds one list twice, sixty levels deep, is measured in sixty steps as 2**60 values.
    ``known`` carries bounds from call to call (a query measuring what it builds step by step); it keeps
    each container with its bound, so that an id is never another object's.
    """
    if not isinstance(value, _CONTAINERS):
        return _scalar_bound(value)
    known = {} if known is None else known
    if id(value) in known:
        return known[id(value)][1]
    sizes: dict[int, int] = {}  # id of a container: the bound of its text; -1 while its parts are walked
    stack = [value]
    while stack:
        item = stack[-1]
        key = id(item)
        if key not in sizes:
            sizes[key] = -1  # a cycle back to it counts nothing (json.dumps refuses cycles anyway)
            stack.extend(child for child in _parts(item) if isinstance(child, _CONTAINERS)
                         and id(child) not in sizes and id(child) not in known)
            continue
        stack.pop()
        if sizes[key] < 0:  # its parts are measured: add them up
            sizes[key] = min(_measure(item, sizes, known), cap + 1)
            known[key] = (item, sizes[key])
    return sizes[id(value)]


def _parts(item: Any) -> Iterable[Any]:
    return itertools.chain(item, item.values()) if isinstance(item, dict) else item


def _measure(item: Any, sizes: dict[int, int], known: dict[int, tuple[Any, int]]) -> int:
    # Braces and ": " per key and ", " between items; brackets and ", " between items.
    total = 4 * len(item) if isinstance(item, dict) else 2 * len(item) or 2
    for child in _parts(item):
        if isinstance(child, str):
            total += len(child) + 2
        elif isinstance(child, _CONTAINERS):
            total += max(sizes[id(child)] if id(child) in sizes else known[id(child)][1], 0)
        else:
            total += 1  # a number, a literal, or an object shown by str()
    return total


_CONTAINERS = (dict, list, tuple, set, frozenset)


def _scalar_bound(value: Any) -> int:
    return len(value) + 2 if isinstance(value, str) else 1  # a number, a literal, or an object shown by str()


__all__ = ["DEFAULT_MAX_OUTPUT", "MAX_INT_BITS", "MAX_RANGE", "Bounds", "Budget", "capping_output", "check_output_size",
           "exceeded", "joined_size", "json_lower_bound", "json_size", "output_cap", "replaced_size"]
