"""The ``/toolnexus/mcp`` endpoint: a thin Jupyter handler in front of the MCP server.

Jupyter decides who may come in — its token or identity provider (no credentials: 403), its Host check
against DNS rebinding, and an Origin check made even for token-authenticated requests (which Jupyter
itself exempts, but MCP requires); its authorizer is asked per HTTP request (``read``/``write`` on
``toolnexus``) and per tool call (``execute`` on ``toolnexus``). Everything else is the SDK's, reached
through :class:`~toolnexus.jupyter.bridge.AsgiBridge`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import ensure_async
from tornado import web

from toolnexus.core.spec import ToolSpec
from toolnexus.mcp.selection import BadSelection, UnknownToolset, describe_error
from toolnexus.mcp.server import AUTHORIZE_SCOPE_KEY

if TYPE_CHECKING:
    from toolnexus.jupyter.extension import ToolnexusExtension

AUTH_RESOURCE = "toolnexus"


class McpHandler(JupyterHandler):
    """Streamable HTTP MCP (POST, GET for the notification stream, DELETE to end a session)."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, extension: ToolnexusExtension) -> None:  # type: ignore[override]
        self.extension = extension

    def skip_check_origin(self) -> bool:
        # Jupyter skips the Origin check for token-authenticated requests; an MCP server must not
        # (DNS rebinding). Only CORS preflights, which carry no credentials, are exempt.
        return self.request.method == "OPTIONS"

    async def prepare(self) -> None:  # type: ignore[override]
        # No redirect to a login page: an MCP client needs a status, not HTML. (XSRF: Jupyter's rule
        # stands — token-authenticated clients need no XSRF token; browser sessions still do.)
        await super().prepare(_redirect_to_login=False)
        if not self.check_origin():
            raise web.HTTPError(403, "Origin not allowed")

    def check_xsrf_cookie(self) -> None:
        # Jupyter checks XSRF before authentication, so a client without credentials would be told
        # "'_xsrf' argument missing": tell it what it lacks. Browser sessions (a user) keep Jupyter's rule.
        # (Tornado calls this once before prepare(), when no user is known yet: Jupyter's own check skips it.)
        if hasattr(self, "_jupyter_current_user") and self._jupyter_current_user is None:
            raise web.HTTPError(403, "authentication required (send Authorization: token <your Jupyter token>)")
        super().check_xsrf_cookie()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.finish(json.dumps({"error": {"status": status_code, "message": message}}))

    @authorized
    async def post(self, toolset: str | None = None) -> None:
        await self._serve(toolset)

    @authorized
    async def get(self, toolset: str | None = None) -> None:
        await self._serve(toolset)

    @authorized
    async def delete(self, toolset: str | None = None) -> None:
        await self._serve(toolset)

    async def _serve(self, toolset: str | None) -> None:
        query = parse_qsl(self.request.query, keep_blank_values=True)
        if toolset:
            query = [(k, v) for k, v in query if k != "toolset"] + [("toolset", toolset)]
            self.request.query = urlencode(query)
        service = await self.extension.ensure_started()
        try:
            service.tool_server.toolset_for(query)
        except UnknownToolset as exc:
            raise web.HTTPError(404, describe_error(exc)) from None
        except BadSelection as exc:
            raise web.HTTPError(400, describe_error(exc)) from None
        user = self.current_user

        async def may_call(spec: ToolSpec) -> bool:
            return bool(await ensure_async(self.authorizer.is_authorized(self, user, "execute", AUTH_RESOURCE)))

        await service.bridge.serve(self, path="/mcp", root_path=self.base_url.rstrip("/"),
                                   extra={AUTHORIZE_SCOPE_KEY: may_call})
