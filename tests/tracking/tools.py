"""A tool with a secret-named parameter, to check that secrets never reach MLflow."""

from __future__ import annotations

from toolnexus import tool


@tool(name="trk.login", register=False)
def login(user: str, api_key: str) -> str:
    """Pretend to log in with an API key."""
    return f"logged in as {user} with a key of {len(api_key)} characters"


ALL = [login]
