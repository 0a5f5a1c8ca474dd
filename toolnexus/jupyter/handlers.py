"""The ``/toolnexus/mcp`` endpoint: a thin Jupyter handler in front of the MCP server.

Jupyter decides who may come in — its token or identity provider (no credentials: 403), its Host check
against DNS rebinding, and an Origin check made even for token-authenticated requests (which Jupyter
itself exempts, but MCP requires); its authorizer is asked per HTTP request (``read``/``write`` on
``toolnexus``) and, by the gate, per tool call, prompt and resource read (``execute`` on ``toolnexus``:
its refusal is recorded as the ``jupyter-authorizer``'s gate decision). The Jupyter user is the caller of the
request's calls and runs (principal: the username, surface ``mcp``). Everything else is the SDK's, reached
through :class:`~toolnexus.jupyter.bridge.AsgiBridge`.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jupyter_server.auth import IdentityProvider, User
from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.identity import PasswordIdentityProvider
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.log import log_request
from jupyter_server.prometheus.log_functions import prometheus_log_method
from jupyter_server.utils import ensure_async, urldecode_unix_socket_path
from tornado import web

from toolnexus.core.caller import Caller, Surface
from toolnexus.governance import CallPlan
from toolnexus.jupyter.service import ServiceSource
from toolnexus.mcp_server.requests import AUTHORIZE_SCOPE_KEY, CALLER_SCOPE_KEY
from toolnexus.mcp_server.selection import BadSelection, UnknownToolset, describe_error

AUTH_RESOURCE = "toolnexus"
# Jupyter's own identity providers (token; token or password — the default), whose answer is a function of the
# request's credentials; subclasses may decide otherwise and are asked every time.
_OWN_PROVIDERS = (IdentityProvider, PasswordIdentityProvider)
IDENTITY_TTL = 60.0  # seconds a connection's identity is reused (see McpHandler.prepare)
LOCAL_HOSTS_KEPT = 64  # Host headers remembered as local (see McpHandler.check_host)

# Host headers Jupyter's check found local, with the hostnames it was told are local then (see check_host).
_local_hosts: dict[tuple[str, Any], bool] = {}

# Per keep-alive connection (Tornado's stream: its HTTP1Connection is made anew for each request):
# (its credentials, the user they identified, token-authenticated?, until when).
_identities: weakref.WeakKeyDictionary[Any, tuple[tuple[str, ...], User, bool, float]] = weakref.WeakKeyDictionary()


class McpHandler(JupyterHandler):
    """Streamable HTTP MCP (POST, GET for the notification stream, DELETE to end a session)."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, extension: ServiceSource) -> None:  # type: ignore[override]
        """Keep what gives this handler the running service (the extension)."""
        self.extension = extension

    def skip_check_origin(self) -> bool:
        """Whether Jupyter's Origin check is skipped: only for CORS preflights (see the comment)."""
        # Jupyter skips the Origin check for token-authenticated requests; an MCP server must not
        # (DNS rebinding). Only CORS preflights, which carry no credentials, are exempt.
        return self.request.method == "OPTIONS"

    async def prepare(self) -> None:  # type: ignore[override]
        """Authenticate the request, reusing a keep-alive connection's identity for a while."""
        # An agent makes call after call on one keep-alive connection with the same token. Jupyter's own
        # identity provider decides from the credentials alone (its token, the Authorization header, the
        # ?token= argument, the login cookie), so its answer for this connection and these credentials is
        # reused for a while; a custom provider (JupyterHub's, say) is asked every time. Reused or not,
        # everything else in Jupyter's prepare (Host, CORS, XSRF, authorization) runs for every request.
        credentials = self._credentials()
        stream = getattr(self.request.connection, "stream", None)
        known = _identities.get(stream) if credentials and stream is not None else None
        reused = False
        if known is not None and known[0] == credentials and known[3] > time.monotonic():
            self._jupyter_current_user, self._token_authenticated = known[1], known[2]
            reused = True
        # No redirect to a login page: an MCP client needs a status, not HTML. (XSRF: Jupyter's rule
        # stands — token-authenticated clients need no XSRF token; browser sessions still do.)
        await super().prepare(_redirect_to_login=False)
        if not self.check_origin():
            raise web.HTTPError(403, "Origin not allowed")
        user = self.current_user
        if credentials and stream is not None and not reused and isinstance(user, User):
            _identities[stream] = (credentials, user, self.token_authenticated, time.monotonic() + IDENTITY_TTL)

    def check_host(self) -> bool:
        """Jupyter's Host check (against DNS rebinding), its "yes" remembered per Host header and local hostnames."""
        # Jupyter's answer depends only on the Host header and the server's settings (a regex, an IP address
        # parsed, a lookup), but an agent's every call pays for it. A "yes" is kept for that header (a refusal is
        # asked again, and logged each time, as before); a UNIX-socket host is checked every time (it asks the
        # file system).
        if self.settings.get("allow_remote_access", False):
            return True
        local = self.settings.get("local_hostnames")
        key = (self.request.host, tuple(local) if local is not None else None)
        if key in _local_hosts:
            return True
        allowed = super().check_host()
        if allowed and not urldecode_unix_socket_path(self.request.host).startswith("/"):
            if len(_local_hosts) >= LOCAL_HOSTS_KEPT:
                _local_hosts.clear()
            _local_hosts[key] = True
        return allowed

    def _credentials(self) -> tuple[str, ...] | None:
        """What Jupyter's own identity provider decides from, or None if another provider decides."""
        provider = self.identity_provider
        if type(provider) not in _OWN_PROVIDERS:
            return None
        headers = self.request.headers
        return (str(provider.token), headers.get("Authorization", ""), self.get_argument("token", ""),
                headers.get("Cookie", ""))

    def check_xsrf_cookie(self) -> None:
        """Jupyter's XSRF check, but a request without credentials is told to send its token (see the comment)."""
        # Jupyter checks XSRF before authentication, so a client without credentials would be told
        # "'_xsrf' argument missing": tell it what it lacks. Browser sessions (a user) keep Jupyter's rule.
        # (Tornado calls this once before prepare(), when no user is known yet: Jupyter's own check skips it.)
        if hasattr(self, "_jupyter_current_user") and self._jupyter_current_user is None:
            raise web.HTTPError(403, "authentication required (send Authorization: token <your Jupyter token>)")
        super().check_xsrf_cookie()

    def set_secure_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """Set the cookie, except Jupyter's login cookie: an MCP client sends its token with every request."""
        # Jupyter answers a token-authenticated request with a login cookie, so that a browser need not send
        # the token again. An MCP client sends its token with every request: the cookie would only come back
        # as a second credential to check on each call (and cost the client its cookie jar). Other cookies
        # (an identity provider's own) are set as usual.
        if name == self.identity_provider.get_cookie_name(self):
            return
        super().set_secure_cookie(name, value, *args, **kwargs)

    def _log(self) -> None:
        # Jupyter's request log formats a line for every request, though successes go to DEBUG, which is
        # rarely on; here every tool call of an agent is a request, and that line is a measurable part of
        # its cost. Skip it when nobody would see it; the Prometheus metrics are recorded all the same.
        # (Tornado keeps ``_log`` for handlers to override; a server with its own log function keeps it.)
        log_function = self.settings.get("log_function")
        if (self.get_status() < 300 and getattr(log_function, "func", log_function) is log_request
                and not _shows_debug(self.log)):
            prometheus_log_method(self)
            return
        super()._log()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer an HTTP error as a JSON body MCP clients can read."""
        self.set_header("Content-Type", "application/json")
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.finish(json.dumps({"error": {"status": status_code, "message": message}}))

    @authorized
    async def post(self, toolset: str | None = None) -> None:
        """A JSON-RPC request or notification (``write`` on ``toolnexus``)."""
        await self._serve(toolset)

    @authorized
    async def get(self, toolset: str | None = None) -> None:
        """The standalone notification stream of a session (``read`` on ``toolnexus``)."""
        await self._serve(toolset)

    @authorized
    async def delete(self, toolset: str | None = None) -> None:
        """End a session (``write`` on ``toolnexus``)."""
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

        async def may_call(plan: CallPlan) -> bool:  # the gate asks, per call, prompt or resource read
            return bool(await ensure_async(self.authorizer.is_authorized(self, user, "execute", AUTH_RESOURCE)))

        default: Caller = service.tool_server.caller
        caller = jupyter_caller(user.username, default.tenant) if isinstance(user, User) else default
        await service.bridge.serve(self, path="/mcp", root_path=self.base_url.rstrip("/"),
                                   extra={AUTHORIZE_SCOPE_KEY: may_call, CALLER_SCOPE_KEY: caller})


@lru_cache(maxsize=1024)
def jupyter_caller(username: str, tenant: str | None) -> Caller:
    """The caller of a Jupyter user's MCP requests: one object per user (and tenant), not one per request."""
    return Caller(principal=username, tenant=tenant, surface=Surface.MCP)


def _shows_debug(logger: logging.Logger) -> bool:
    """Whether a DEBUG record of ``logger`` would be written anywhere. Jupyter leaves its logger at DEBUG
    and sets the level on its handlers, so ``isEnabledFor`` alone says yes even when nothing shows it."""
    if not logger.isEnabledFor(logging.DEBUG):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler.level <= logging.DEBUG for handler in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return logging.lastResort is not None and logging.lastResort.level <= logging.DEBUG and not logger.hasHandlers()
