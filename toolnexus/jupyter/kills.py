"""REST for the kill switches on the Jupyter server: ``<base_url>toolnexus/api/kills``.

- ``GET  …/kills[?all=1&limit=100]`` — the switches in force, oldest first; with ``all``, the history too
  (lifted switches included), newest first (``read`` on ``toolnexus``);
- ``POST …/kills`` — body ``{"target": "files.write", "scope": "tool", "reason": "…"}``: set a switch
  (``scope`` one of tool, namespace, tenant, all — default tool; no ``target`` for ``all``; ``reason``
  required, every refused caller is told it); answers 201 and the switch (200 and the one in force if it
  was set already);
- ``POST …/kills/unkill`` — body ``{"target": "files.write", "scope": "tool", "ticket": "apr-…"}``: lift the
  switches on ``target`` (of ``scope``; every scope without one); answers the switches lifted.

Setting and lifting ask Jupyter's authorizer for ``write`` on ``toolnexus`` and are made as the Jupyter user
(the switch's ``by``, the ``kill``/``unkill`` audit record's ``by``). Lifting is a POST with a body rather than a
``DELETE …/kills/<target>``: a target may be a glob (``http.*``), and the ticket and scope travel as in the
approvals API. Under ``[governance] guard_loosening``, lifting without a ``ticket`` files an approval request
and answers 409 with ``{"error": …, "ticket": <the request>}``; once someone other than the Jupyter user
granted it (``POST …/approvals/<ticket>/approve``), the same body with ``ticket`` lifts the switch. Errors are
``{"error": {"status", "message"}}``: 400 for a bad body, 404 for no switch on the target or an unknown ticket,
409 for an approval that is needed, not granted, not for this switch or used already.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from toolnexus.governance.approvals import ApprovalRefused, UnknownTicket
from toolnexus.governance.kills import KillSwitches
from toolnexus.governance.loosening import ApprovalNeeded
from toolnexus.jupyter.approvals import _Base
from toolnexus.jupyter.service import ServiceSource
from toolnexus.store.kills import SCOPES, KillRecord, KillScope

ENDPOINT = "toolnexus/api/kills"
HISTORY_LIMIT = 100


def kill_handlers(extension: ServiceSource) -> list[tuple[str, type[_Base], dict[str, Any]]]:
    """The REST handlers of the kill switches, for the extension's ``handlers`` (paths without the base URL)."""
    return [
        (rf"/{ENDPOINT}/?", KillsHandler, {"extension": extension}),
        (rf"/{ENDPOINT}/unkill/?", UnkillHandler, {"extension": extension}),
    ]


class _KillsBase(_Base):
    """The approvals handlers' JSON and identity, with the workspace's kill switches."""

    async def switches(self) -> KillSwitches:
        """The kill switches of the server's workspace (the Nexus's own: its bus hears, its audit records)."""
        kills = (await self.extension.ensure_started()).nexus.kills
        if kills is None:
            raise web.HTTPError(503, "kill switches need the state store")
        return kills

    def scope(self, body: dict[str, Any], default: KillScope | None) -> KillScope | None:
        """The body's ``scope`` (``default`` when absent); a 400 naming the scopes when unknown."""
        scope = body.get("scope", default)
        if scope is not None and scope not in SCOPES:
            raise web.HTTPError(400, f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
        return scope  # type: ignore[no-any-return]


def _record(record: KillRecord) -> dict[str, Any]:
    """A switch as JSON: id, scope, target, reason, by, at, active, lifted_by, lifted_at (times in epoch seconds)."""
    return asdict(record)


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise web.HTTPError(400, f"{key} must be a string")
    return value.strip()


def _target(body: dict[str, Any], scope: KillScope | None) -> str:
    """The body's ``target`` (``*`` for scope ``all``); a 400 when a switch of another scope names none."""
    if scope == "all":
        return "*"
    target = _string(body, "target")
    if not target:
        raise web.HTTPError(400, f"a {scope or 'kill'} switch needs a target: a name or a glob, "
                                 'e.g. {"target": "files.write"}')
    return target


class KillsHandler(_KillsBase):
    """``GET …/kills``: the switches in force (or the history); ``POST …/kills``: set one as the Jupyter user."""

    @authorized
    async def get(self) -> None:
        """The switches in force, oldest first; with ``?all=1``, the most recent ``?limit=`` switches, lifted too."""
        switches = await self.switches()
        if self.get_argument("all", "0").lower() in ("", "0", "false", "no"):
            self.reply([_record(r) for r in switches.active()])
            return
        try:
            limit = int(self.get_argument("limit", str(HISTORY_LIMIT)))
        except ValueError:
            raise web.HTTPError(400, "limit must be a whole number") from None
        self.reply([_record(r) for r in switches.table.history(max(1, limit))])

    @authorized
    async def post(self) -> None:
        """Set a switch: 201 and the new switch, or 200 and the one already in force on that target."""
        body = self.body()
        scope = self.scope(body, "tool")
        assert scope is not None
        target, reason = _target(body, scope), _string(body, "reason")
        if not reason:
            raise web.HTTPError(400, 'a kill switch needs a reason (every caller it refuses is told it), '
                                     'e.g. {"target": "files.write", "reason": "writes outside out/"}')
        switches = await self.switches()
        already = any(r.scope == scope and r.target == target for r in switches.active())
        try:
            record = switches.kill(scope, target, reason, self.principal)
        except ValueError as exc:  # what KillSwitches itself refuses
            raise web.HTTPError(400, str(exc)) from None
        self.reply(_record(record), 200 if already else 201)


class UnkillHandler(_KillsBase):
    """``POST …/kills/unkill``: lift the switches on a target as the Jupyter user (with a ticket when guarded)."""

    @authorized
    async def post(self) -> None:
        """Lift them; answers the switches lifted (a 409 with the filed ticket when an approval is needed)."""
        body = self.body()
        scope = self.scope(body, None)
        target = _target(body, scope)
        ticket = _string(body, "ticket") or None
        switches = await self.switches()
        try:
            lifted = switches.unkill(target, self.principal, scope, ticket=ticket)
        except ApprovalNeeded as exc:
            self._needs_approval(exc)
            return
        except UnknownTicket as exc:
            raise web.HTTPError(404, str(exc)) from None
        except ApprovalRefused as exc:
            raise web.HTTPError(409, f"{exc}" + (f" ({exc.hint})" if exc.hint else "")) from None
        if not lifted:
            raise web.HTTPError(404, f"no kill switch is set on {target}" + (f" (scope {scope})" if scope else ""))
        self.reply([_record(r) for r in lifted])

    def _needs_approval(self, exc: ApprovalNeeded) -> None:
        """Answer 409 with the request filed: the client has it granted by someone else, then sends its ticket."""
        self.set_status(409)
        self.set_header("Content-Type", "application/json")
        error = {"status": 409, "message": str(exc), "hint": exc.hint}
        self.finish(json.dumps({"error": error, "ticket": exc.ticket.to_dict()}, default=str))
