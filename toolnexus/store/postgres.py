"""The state store on PostgreSQL: one state — runs, steps, calls, the cache, approvals, kill switches, flags and
the audit log — shared by every host that points ``state`` at the same database.

:class:`PostgresStateStore` is the SQLite :class:`~toolnexus.store.sqlite.StateStore` with another database
under it: the same records, written by the same code, in the SQL both databases take
(:mod:`toolnexus.store.sql`). What differs is here:

- **Connections**: SQLAlchemy 2's engine over psycopg 3 (its pool, its URL), one connection per thread, each
  answering as the store's SQLite connections do (:class:`PgConnection`: ``?`` placeholders, rows readable by
  name and by position, ``in_transaction``).
- **One writer at a time**: SQLite's ``BEGIN IMMEDIATE`` takes the database's write lock; here a write
  transaction takes one transaction-scoped advisory lock, so the audit chain and the approvals' conditional
  updates see the same order as on SQLite, whatever host writes.
- **Signals**: every commit that wrote sends ``NOTIFY toolnexus``; each store LISTENs on a connection of its
  own and counts what arrives. That count stands in for SQLite's ``PRAGMA data_version``, so the approvals
  queue, the kill switches and the rollout flags learn of another host's change as it is committed — with
  no query while nothing changes.
- **Schema**: the Alembic revisions of :mod:`toolnexus.store.migrations`, run under the same lock.
- No write-ahead log to checkpoint, no file to create.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

from toolnexus.core.secrets import declare_secret
from toolnexus.errors import Unavailable
from toolnexus.store.schema import SCHEMA_VERSION, revision_of, upgrade
from toolnexus.store.sqlite import HEARTBEAT_INTERVAL, StateStore

log = logging.getLogger("toolnexus.store")

CHANNEL = "toolnexus"  # what every writing commit notifies, and every store listens to
WRITE_LOCK = 0x746E7873  # the advisory lock a write transaction takes ("tnxs"): one writer at a time
_WRITES = ("INSERT", "UPDATE", "DELETE")


class StoreUnavailable(Unavailable):
    """The state database cannot be reached, or refuses the store (the message says which and why)."""


class Row(tuple[Any, ...]):
    """A row readable as SQLite's ``sqlite3.Row`` is: by column name, by position, and ``keys()``."""

    _names: dict[str, int]

    def __new__(cls, names: dict[str, int], values: Sequence[Any]) -> Row:
        """The row of ``values``, its columns' positions by name in ``names``."""
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(names, values)


_NAMED = re.compile(r"(?<!:):(?!:)([A-Za-z_]\w*)")  # :name, not a ::cast


@lru_cache(maxsize=512)
def _translate(sql: str, named: bool = False) -> str:
    """The store's SQL for psycopg: ``?`` (or, with a mapping of parameters, ``:name``) placeholders become
    ``%s`` (``%(name)s``), and a literal ``%`` is doubled."""
    sql = sql.replace("%", "%%")
    return _NAMED.sub(r"%(\1)s", sql) if named else sql.replace("?", "%s")


class PgCursor:
    """What ``execute`` returns: rows (as :class:`Row`), ``rowcount``, ``description``."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount
        self.description = cursor.description

    def fetchone(self) -> Row | None:
        """The next row, or None."""
        return self._cursor.fetchone() if self.description else None

    def fetchall(self) -> list[Row]:
        """The rows left."""
        return list(self._cursor.fetchall()) if self.description else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgConnection:
    """A psycopg connection (autocommit: transactions are the store's ``BEGIN`` … ``COMMIT``) that answers as
    the store's SQLite connections do. ``total_changes`` counts this connection's writing statements (SQLite's
    own count, which the governance caches compare)."""

    def __init__(self, raw: Any, store: PostgresStateStore) -> None:
        from psycopg.pq import TransactionStatus

        self._raw = raw  # SQLAlchemy's pooled DBAPI connection
        self._conn = raw.driver_connection
        self._conn.autocommit = True
        self._conn.row_factory = _row_factory
        self._idle = TransactionStatus.IDLE
        self._store = store
        self._wrote_in_transaction = False
        self.total_changes = 0

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection."""
        return bool(self._conn.info.transaction_status != self._idle)

    def data_version(self) -> int:
        """What stands in for SQLite's ``PRAGMA data_version``: the count of commits notified so far."""
        return self._store.notified

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> PgCursor:
        """Run one statement (``BEGIN IMMEDIATE`` takes the write lock; a writing commit notifies)."""
        head = sql.lstrip()[:16].upper()
        if head.startswith("BEGIN"):
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            self._wrote_in_transaction = False
            return PgCursor(self._conn.execute("SELECT 1 WHERE false"))
        committing = head.startswith("COMMIT") and self._wrote_in_transaction
        if committing:
            self._conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        named = isinstance(params, Mapping)
        cursor = self._conn.execute(_translate(sql, named), params if named else tuple(params))
        if committing:
            self._store.changed()
        elif head.startswith(_WRITES):
            self.total_changes += 1
            if self.in_transaction:
                self._wrote_in_transaction = True
            else:
                self._notify()
        return PgCursor(cursor)

    def _notify(self) -> None:
        """A write committed outside a transaction: tell the other hosts, and this store at once."""
        self._conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        self._store.changed()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows``."""
        rows = [tuple(row) for row in rows]
        if not rows:
            return
        with self._conn.cursor() as cursor:
            cursor.executemany(_translate(sql), rows)
        self.total_changes += len(rows)
        if self.in_transaction:
            self._wrote_in_transaction = True
        else:
            self._notify()

    def close(self) -> None:
        """Give the connection back (closed: each thread of a store keeps its own)."""
        with suppress(Exception):
            self._raw.invalidate()


class PostgresStateStore(StateStore):
    """The state store on a PostgreSQL database (see the module's docstring); ``url`` as SQLAlchemy takes it:
    ``postgresql://user:password@host/db`` (psycopg 3 is the driver whatever the URL names)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, heartbeat_interval: float = HEARTBEAT_INTERVAL) -> None:
        import sqlalchemy as sa

        self.url = _psycopg_url(url)
        if importlib.util.find_spec("psycopg") is None:
            raise ImportError("the PostgreSQL state store needs psycopg 3: pip install 'toolnexus[postgresql]'")
        self._engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        password = self._engine.url.password
        if password:
            declare_secret(str(password))  # the database's password never reaches a record
        self.notified = 0  # NOTIFYs seen on the channel (and this store's own commits): its data_version
        self._count_lock = threading.Lock()
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="toolnexus-store-listen", daemon=True)
        self._listener.start()
        self._listening.wait(30)
        try:
            super().__init__(Path(f"postgresql-{abs(hash(self.url))}"), heartbeat_interval=heartbeat_interval)
        except (sa.exc.SQLAlchemyError, OSError) as exc:  # the server cannot be reached, or refuses us
            self._stop.set()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreUnavailable(f"cannot use the state database {self.where}: {reason}") from None

    # -- what differs from SQLite --------------------------------------------------------------------

    def _prepare(self) -> None:
        """No folder to make: the database is the server's."""

    def _migrate(self) -> None:
        with self._engine.begin() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
            current = connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version" if self._has_versions(connection) else "SELECT NULL"
            ).scalar()
            if current != revision_of(SCHEMA_VERSION):
                upgrade(connection)

    @staticmethod
    def _has_versions(connection: Any) -> bool:
        import sqlalchemy as sa

        return bool(sa.inspect(connection).has_table("alembic_version"))

    def _open(self) -> PgConnection:  # type: ignore[override]
        return PgConnection(self._engine.raw_connection(), self)

    def _committed(self, payload: int = 0) -> None:
        self._wrote = True  # (no write-ahead log to checkpoint)

    def _after_run(self, run_id: str) -> None:
        self._heartbeat.ended(run_id)

    def _finish_closing(self) -> None:
        self._stop.set()
        self._engine.dispose()

    @property
    def where(self) -> str:
        """Where the state is, as a message names it (the database's URL, its password hidden)."""
        return self._engine.url.set(drivername="postgresql").render_as_string(hide_password=True)

    def changed(self) -> None:
        """A commit of this store wrote: seen by its own watches at once (the other hosts' by notification; this
        store's own notification counts once more when it comes back, which only makes a reader look again)."""
        with self._count_lock:
            self.notified += 1

    def change_watch(self) -> PgChangeWatch:  # type: ignore[override]
        """A watch on this database: commits of any host, as they are notified."""
        return PgChangeWatch(self)

    # -- signals -------------------------------------------------------------------------------------

    def _listen(self) -> None:
        """LISTEN on a connection of its own; count every notification (until the store closes)."""
        import psycopg

        dsn = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self.changed()
            except Exception as exc:  # the server went away: count one change (read again), and reconnect
                self.changed()
                self._listening.set()
                log.debug("listening for store changes failed: %s", exc)
                self._stop.wait(1.0)


class PgChangeWatch:
    """Tells when any host committed a write since the last look (as :class:`~toolnexus.store.approvals.
    ChangeWatch` does on SQLite), from the notifications the store counts."""

    def __init__(self, store: PostgresStateStore) -> None:
        self.store = store
        self._version: int | None = None
        self._conn: PgConnection | None = None

    @property
    def conn(self) -> PgConnection:
        """A connection of the watch's own, to read what changed (as the SQLite watch's is)."""
        if self._conn is None:
            self._conn = self.store._open()
        return self._conn

    def changed(self) -> bool:
        """Whether the database changed since the last call (always true the first time)."""
        version = self.store.notified
        moved = version != self._version
        self._version = version
        return moved

    def close(self) -> None:
        """Close its connection, if it made one."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _psycopg_url(url: str) -> str:
    """``url`` with psycopg 3 as its driver (``postgresql://`` alone would ask SQLAlchemy for psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r} (expected postgresql://user@host/database)")
    return f"postgresql+psycopg://{rest}"
