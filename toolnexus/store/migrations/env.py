"""Alembic's environment for the state store: the connection comes from the caller (toolnexus.store.schema, or a
developer's ``alembic -x url=… upgrade head``); the migrations run in the caller's transaction."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from toolnexus.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # the alembic command line: -x url=sqlite:///…/state.db or postgresql+psycopg://…
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
