"""Layer 6: toolnexus in the Jupyter server process — the extension serving tools over MCP (kernel-side code is
``toolnexus.notebook``).

Nothing is imported eagerly: the server-extension machinery loads only when Jupyter asks for it.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tells Jupyter where the server extension is (enabled by ``jupyter_server_config.d/toolnexus.json``)."""
    from toolnexus.jupyter.extension import ToolnexusExtension

    return [{"module": "toolnexus.jupyter.extension", "app": ToolnexusExtension}]
