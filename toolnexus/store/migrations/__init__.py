"""The state store's Alembic migrations: ``versions/`` holds one revision per schema version (0001 … 0006, the
``PRAGMA user_version`` numbers SQLite databases had before Alembic); :mod:`toolnexus.store.schema` runs them."""
