"""Alembic's environment for the state store: the connection comes from the caller (toolnexus.store.schema, or a
developer's ``alembic -x url=… upgrade head``); the migrations run in the caller's transaction.

Alembic runs this module with its context set up; imported otherwise (a tool walking the package) it does
nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from toolnexus.store.tables import metadata


def run() -> None:
    """Run the migrations Alembic asked for, on the caller's connection (or on ``-x url=…``'s)."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
        return
    # The alembic command line: -x url=sqlite:///…/state.db or postgresql+psycopg://…
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()


if hasattr(context, "config"):  # (set only while Alembic runs its environment)
    run()
