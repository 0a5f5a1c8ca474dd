"""The state store a benchmark measures: SQLite in the workspace (the default), or, with ``--postgres``, a
PostgreSQL server of its own started for the run (Debian's ``postgresql``, as the tests start one) and named in
``TOOLNEXUS_STATE`` for this process and the processes it starts."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def open_store(workspace: Path) -> Any:
    """The store the benchmark's processes share: ``TOOLNEXUS_STATE``'s database, else the workspace's SQLite."""
    url = os.environ.get("TOOLNEXUS_STATE")
    if url:
        from toolnexus.store.postgres import PostgresStateStore

        return PostgresStateStore(url)
    from toolnexus.store.sqlite import StateStore

    return StateStore(workspace / ".toolnexus" / "state.db")


@contextlib.contextmanager
def state(postgres: bool) -> Iterator[str]:
    """The backend's name, with a PostgreSQL server running (and named in TOOLNEXUS_STATE) if asked for."""
    if not postgres:
        yield "SQLite"
        return
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.fixtures.postgres import running_server

    with running_server() as server:
        os.environ["TOOLNEXUS_STATE"] = server.url.replace("postgresql+psycopg://", "postgresql://")
        try:
            yield "PostgreSQL"
        finally:
            del os.environ["TOOLNEXUS_STATE"]
