"""The tests' real PostgreSQL server (tests/fixtures/postgres.py) takes connections through SQLAlchemy 2 and
psycopg 3, and carries a NOTIFY from one connection to a LISTENing other: what the PostgreSQL state store
will be built on, checked on this machine (and CI's) before the store needs it."""

from __future__ import annotations

import time

import psycopg
import pytest
import sqlalchemy as sa

from tests.fixtures.postgres import PostgresServer, postgres_server  # noqa: F401 (a fixture pytest registers)

pytestmark = pytest.mark.slow


def test_the_server_takes_sqlalchemy_connections_over_psycopg(postgres_server: PostgresServer) -> None:  # noqa: F811
    engine = sa.create_engine(postgres_server.url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at DOUBLE PRECISION)"))
            conn.execute(sa.text("INSERT INTO probe VALUES (1, :at) ON CONFLICT (id) DO UPDATE SET at = :at"),
                         {"at": time.time()})
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM probe")).scalar() == 1
            assert conn.dialect.driver == "psycopg"
    finally:
        engine.dispose()
    assert postgres_server.version.startswith("postgres (PostgreSQL)")


def test_a_notify_reaches_a_listening_connection(postgres_server: PostgresServer) -> None:  # noqa: F811
    with psycopg.connect(postgres_server.dsn, autocommit=True) as listener, \
            psycopg.connect(postgres_server.dsn, autocommit=True) as sender:
        listener.execute("LISTEN toolnexus_probe")
        sender.execute("SELECT pg_notify('toolnexus_probe', 'kill files.write')")
        got = [(n.channel, n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
    assert got == [("toolnexus_probe", "kill files.write")]
