"""Pieces of the endpoint's handler that need no server: whether a DEBUG access line would show."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from toolnexus.jupyter.handlers import _shows_debug


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    parent = logging.getLogger("toolnexus-test-app")
    child = logging.getLogger("toolnexus-test-app.handler")
    saved = parent.level, parent.propagate, list(parent.handlers)
    parent.setLevel(logging.DEBUG)  # as Jupyter leaves its application logger
    parent.propagate = False
    yield child
    parent.setLevel(saved[0])
    parent.propagate = saved[1]
    parent.handlers[:] = saved[2]


def test_a_debug_logger_whose_handlers_show_warnings_shows_no_debug(logger: logging.Logger) -> None:
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    logger.parent.addHandler(handler)  # type: ignore[union-attr]
    assert logger.isEnabledFor(logging.DEBUG)
    assert _shows_debug(logger) is False


def test_a_handler_at_debug_shows_debug(logger: logging.Logger) -> None:
    quiet, loud = logging.StreamHandler(), logging.StreamHandler()
    quiet.setLevel(logging.WARNING)
    loud.setLevel(logging.DEBUG)
    logger.parent.addHandler(quiet)  # type: ignore[union-attr]
    logger.parent.addHandler(loud)  # type: ignore[union-attr]
    assert _shows_debug(logger) is True


def test_a_logger_above_debug_shows_none(logger: logging.Logger) -> None:
    logger.parent.addHandler(logging.StreamHandler())  # type: ignore[union-attr]
    logger.parent.setLevel(logging.INFO)  # type: ignore[union-attr]
    assert _shows_debug(logger) is False
