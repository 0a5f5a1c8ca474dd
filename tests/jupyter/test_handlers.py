"""Pieces of the endpoint's handler that need no server: whether a DEBUG access line would show."""

from __future__ import annotations

import logging

import pytest

from toolnexus.jupyter.handlers import _shows_debug


@pytest.fixture
def logger() -> logging.Logger:
    """A child of an application logger left at DEBUG that does not propagate, as Jupyter leaves its own.

    Both are made outside ``logging``'s manager: pytest's logging plugin attaches its capture handlers (at
    NOTSET, so they would show DEBUG) to every non-propagating logger the manager knows, and the test must
    see only the handlers it adds itself."""
    parent = logging.Logger("toolnexus-test-app", logging.DEBUG)
    parent.propagate = False
    child = logging.Logger("toolnexus-test-app.handler")
    child.parent = parent
    return child


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
