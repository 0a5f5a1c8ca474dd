"""REST for the approvals queue on the Jupyter server: ``<base_url>toolnexus/api/approvals``.

- ``GET  …/approvals[?status=requested&limit=50]`` — the most recent tickets (``read`` on ``toolnexus``);
- ``GET  …/approvals/<ticket>`` — one ticket (its id, a unique prefix or its random tail);
- ``POST …/approvals/<ticket>/approve`` — body ``{"scope": "call"|"run"|"pattern", "for": "1h",
  "match": {"path": "out/*"}, "reason": "…"}`` (every key optional but ``match`` for a pattern grant);
- ``POST …/approvals/<ticket>/deny`` — body ``{"reason": "…"}``.

Granting and denying ask Jupyter's authorizer for the ``approve`` action on ``toolnexus``; the decision is
made as the Jupyter user over the ``rest`` channel (a rule may refuse that user or that channel). Answers
are JSON: a ticket as :meth:`~toolnexus.store.approvals.ApprovalRecord.to_dict` gives it, errors as
``{"error": {"status", "message"}}`` — 404 for an unknown ticket, 403 for an approver the rule refuses,
409 for a ticket decided already, 400 for a bad body.

The extension registers :func:`approval_handlers` beside its MCP endpoint.
"""

from __future__ import annotations

import json
import weakref
from typing import Any, get_args

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from toolnexus.api import Nexus
from toolnexus.core.units import parse_duration
from toolnexus.governance.approvals import (
    PATTERN_GRANT_FOR,
    SCOPES,
    ApprovalRefused,
    Approvals,
    NotAnApprover,
    UnknownTicket,
)
from toolnexus.jupyter.service import ServiceSource
from toolnexus.store.approvals import ApprovalStatus

ENDPOINT = "toolnexus/api/approvals"
AUTH_RESOURCE = "toolnexus"
APPROVE_ACTION = "approve"
CHANNEL = "rest"

# One queue per Nexus (its table made once), not one per request.
_queues: weakref.WeakKeyDictionary[Nexus, Approvals] = weakref.WeakKeyDictionary()


def approval_handlers(extension: ServiceSource) -> list[tuple[str, type[APIHandler], dict[str, Any]]]:
    """The REST handlers of the approvals queue, for the extension's ``handlers`` (paths without the base URL)."""
    return [
        (rf"/{ENDPOINT}/?", ApprovalsHandler, {"extension": extension}),
        (rf"/{ENDPOINT}/([A-Za-z0-9_.-]+)/?", ApprovalHandler, {"extension": extension}),
        (rf"/{ENDPOINT}/([A-Za-z0-9_.-]+)/(approve|deny)/?", DecisionHandler, {"extension": extension}),
    ]


class _Base(APIHandler):
    """What the approvals handlers share: the workspace's queue, the caller's name, JSON in and out."""

    auth_resource = AUTH_RESOURCE

    def initialize(self, extension: ServiceSource) -> None:  # type: ignore[override]
        """Keep what gives this handler the running service (the extension)."""
        self.extension = extension

    async def approvals(self) -> Approvals:
        """The queue of the server's workspace (the decisions it makes announced on the Nexus's bus)."""
        nexus = (await self.extension.ensure_started()).nexus
        approvals = _queues.get(nexus)
        if approvals is None:
            if nexus.store is None:
                raise web.HTTPError(503, "approvals need the state store")
            # The Nexus's own queue when it has one (its calls wait on it), else one on its store.
            shared = getattr(nexus, "approvals", None)
            queue = shared.queue if isinstance(shared, Approvals) else None
            approvals = _queues[nexus] = Approvals(nexus.store, nexus.bus.emit, channel=CHANNEL, queue=queue)
        return approvals

    @property
    def principal(self) -> str:
        """The Jupyter user making the request."""
        user = self.current_user
        return str(getattr(user, "username", None) or user)

    def reply(self, value: Any, status: int = 200) -> None:
        """Answer ``value`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer an error as ``{"error": {"status", "message"}}``."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"status": status_code, "message": message}}))

    def body(self) -> dict[str, Any]:
        """The request's JSON object (an empty body is ``{}``)."""
        if not self.request.body:
            return {}
        try:
            value = json.loads(self.request.body)
        except json.JSONDecodeError as exc:
            raise web.HTTPError(400, f"the body is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        return value


def _http_error(exc: Exception) -> web.HTTPError:
    """The HTTP error answering a refused or unknown ticket."""
    status = 404 if isinstance(exc, UnknownTicket) else 403 if isinstance(exc, NotAnApprover) else 409
    hint = getattr(exc, "hint", None)
    return web.HTTPError(status, f"{exc}" + (f" ({hint})" if hint and status != 404 else ""))


class ApprovalsHandler(_Base):
    """``GET …/approvals``: the most recent tickets, newest first."""

    @authorized
    async def get(self) -> None:
        """List tickets (``?status=`` one of requested, granted, denied, expired, withdrawn; ``?limit=``)."""
        status = self.get_argument("status", None)
        if status is not None and status not in get_args(ApprovalStatus):
            raise web.HTTPError(400, f"unknown status {status!r}")
        try:
            limit = int(self.get_argument("limit", "100"))
        except ValueError:
            raise web.HTTPError(400, "limit must be a whole number") from None
        records = (await self.approvals()).list(status, max(1, limit))  # type: ignore[arg-type]
        self.reply([record.to_dict() for record in records])


class ApprovalHandler(_Base):
    """``GET …/approvals/<ticket>``: one ticket."""

    @authorized
    async def get(self, ticket: str) -> None:
        """The ticket ``ticket`` names."""
        try:
            record = (await self.approvals()).show(ticket)
        except UnknownTicket as exc:
            raise _http_error(exc) from None
        self.reply(record.to_dict())


class DecisionHandler(_Base):
    """``POST …/approvals/<ticket>/approve|deny``: grant or deny as the Jupyter user, over ``rest``."""

    @authorized(action=APPROVE_ACTION)
    async def post(self, ticket: str, verb: str) -> None:
        """Grant or deny ``ticket``; answers the decided ticket."""
        body = self.body()
        approvals = await self.approvals()
        try:
            if verb == "approve":
                record = approvals.approve(ticket, by=self.principal, **_grant_of(body))
            elif not (reason := _text(body, "reason")).strip():
                raise web.HTTPError(400, "a denial needs a reason: the caller is told it")
            else:
                record = approvals.deny(ticket, reason, by=self.principal)
        except (UnknownTicket, ApprovalRefused) as exc:
            raise _http_error(exc) from None
        self.reply(record.to_dict())


def _grant_of(body: dict[str, Any]) -> dict[str, Any]:
    """The grant a body asks for: scope, duration (``for``), argument pattern (``match``), reason."""
    scope = body.get("scope", "call")
    if scope not in SCOPES:
        raise web.HTTPError(400, f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
    match = body.get("match")
    if match is not None and not (isinstance(match, dict) and all(isinstance(v, str) for v in match.values())):
        raise web.HTTPError(400, 'match must map argument paths to globs, e.g. {"path": "out/*"}')
    try:
        duration = parse_duration(body.get("for"))
    except ValueError as exc:
        raise web.HTTPError(400, f"for: {exc}") from None
    if (scope == "pattern") != bool(match):
        raise web.HTTPError(400, 'a pattern grant and its match go together, e.g. {"scope": "pattern", '
                                 '"match": {"path": "out/*"}}')
    if scope == "pattern" and duration is None:
        duration = PATTERN_GRANT_FOR
    return {"scope": scope, "duration": duration, "match": match, "reason": _text(body, "reason")}


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise web.HTTPError(400, f"{key} must be a string")
    return value
