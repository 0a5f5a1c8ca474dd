"""Log records with their secrets scrubbed: one record, a filter for a handler, or every record of the process."""

from __future__ import annotations

import logging
import threading
from typing import Any

from toolnexus.core.secrets.scrub import scrub_text


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
        """Scrub ``record`` in place and let it through: this filter rewrites, it never drops."""
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
