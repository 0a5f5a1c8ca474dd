"""The state store's schema, versioned with Alembic: :mod:`toolnexus.store.tables` says what every database is
brought to, :mod:`toolnexus.store.migrations` how (one revision per version, ``0001`` … ``0006``).

A SQLite database also keeps its version in ``PRAGMA user_version`` (the number of its revision), as databases
did before Alembic: opening a current one reads that one number and imports nothing more. An older one — with
an ``alembic_version`` table, or only the ``user_version`` of an older toolnexus — is upgraded in place, in one
transaction that takes the write lock first (two processes opening it at once migrate it once), and nothing
in it is lost. A database of a newer toolnexus is left as it is.
"""

from __future__ import annotations

import sqlite3
from typing import Any

SCHEMA_VERSION = 6
"""The version a store brings every database it opens to: its Alembic head revision is ``f"{6:04d}"``."""
SCRIPTS = "toolnexus.store:migrations"  # the Alembic script location (a package resource)


def revision_of(version: int) -> str:
    """The Alembic revision of schema ``version``."""
    return f"{version:04d}"


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the SQLite database of ``conn`` to :data:`SCHEMA_VERSION`; returns the version it had."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version >= SCHEMA_VERSION:
        return int(version)
    (_, _, path) = conn.execute("PRAGMA database_list").fetchone()
    if not path:
        raise ValueError("the state store keeps its database in a file, not in memory")
    return _upgrade_sqlite(path)


def _upgrade_sqlite(path: str) -> int:
    """Upgrade the database at ``path`` under its write lock (``BEGIN IMMEDIATE``): the version it had."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the transaction is ours (BEGIN IMMEDIATE), not the driver's

    @sa.event.listens_for(engine, "begin")
    def _lock(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.begin() as connection:
            version = int(connection.exec_driver_sql("PRAGMA user_version").scalar() or 0)
            if version < SCHEMA_VERSION:  # (another process may have upgraded it meanwhile)
                upgrade(connection, version)
                connection.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
    finally:
        engine.dispose()
    return version


def upgrade(connection: Any, legacy_version: int = 0) -> None:
    """Run the migrations on ``connection`` (a SQLAlchemy connection, in the caller's transaction) up to the
    head. A database that has no ``alembic_version`` table but a ``legacy_version`` (a SQLite database of a
    toolnexus before Alembic) is first stamped at that version's revision."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    config.attributes["connection"] = connection
    if legacy_version and not sa.inspect(connection).has_table("alembic_version"):
        command.stamp(config, revision_of(legacy_version))
    command.upgrade(config, "head")
