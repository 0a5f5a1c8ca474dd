"""Asking the waiting call's own user: an MCP client that can elicit is asked to approve its user's call.

Only where the rule lets the requester approve their own call (no four eyes, the requester among the
approvers if the rule names any, and ``mcp`` among its channels if it names any). The approvals queue stays
the source of truth: the answer is recorded as a grant or a denial by the requester over the ``mcp``
channel, and a decision made elsewhere meanwhile (the CLI, REST) wins — the question is then dropped.

- A client in a session (2025-06-18, 2025-11-25) gets a server-initiated ``elicitation/create`` while the
  call waits.
- A stateless client (2026-07-28) is asked through an ``input_required`` round: the question is recorded
  under a key of the call's digest, the ticket is withdrawn and the call ends; the client calls again with
  the answer, which then decides the new ticket at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolnexus.core.context import CallChannel
from toolnexus.core.errors import ToolFailure
from toolnexus.errors import ToolnexusError
from toolnexus.store.approvals import ApprovalRecord

if TYPE_CHECKING:
    from toolnexus.governance.approvals import ApprovalQueue

CHANNEL = "mcp"
ASKED = "asked the MCP client's user: the call is made again with the answer"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean", "title": "Approve", "description": "let this call run"},
        "reason": {"type": "string", "title": "Reason", "description": "why (recorded with the decision)"},
    },
    "required": ["approve"],
}


def may_ask(record: ApprovalRecord, channel: CallChannel) -> bool:
    """Whether the caller of ``record``'s call can be asked (it can elicit) and may approve it itself."""
    return (not record.four_eyes and (record.approvers is None or record.principal in record.approvers)
            and (record.channels is None or CHANNEL in record.channels) and channel.can("elicitation"))


def question(record: ApprovalRecord) -> str:
    """What the user is asked."""
    why = f" — {record.reason}" if record.reason else ""
    return (f"Approve the call of {record.tool} with {record.arguments} (rule {record.rule}{why})? "
            f"Ticket {record.ticket}.")


async def ask_the_caller(queue: ApprovalQueue, record: ApprovalRecord, channel: CallChannel) -> None:
    """Ask the caller's user about ``record`` and record the answer in ``queue`` (a decline is a denial;
    a cancelled question leaves the ticket to other approvers)."""
    try:
        answer = await channel.elicit(question(record), SCHEMA, key=f"approval-{record.digest[:16]}")
    except ToolFailure as exc:
        if exc.error.details.get("input_required"):  # a stateless client: it answers, then calls again
            queue.close(record.ticket, "withdrawn", reason=ASKED)
        return  # otherwise the client could not be asked after all: the queue decides
    except Exception:  # the client went away or answered nonsense: the queue decides
        return
    _decide(queue, record, answer)


def _decide(queue: ApprovalQueue, record: ApprovalRecord, answer: dict[str, Any]) -> None:
    action = answer.get("action")
    content = answer.get("content") or {}
    reason = str(content.get("reason") or "")
    by = record.principal or "mcp-client"
    try:
        if action == "accept" and content.get("approve") is True:
            queue.grant(record.ticket, by, CHANNEL, reason=reason)
        elif action in ("accept", "decline"):
            queue.deny(record.ticket, by, CHANNEL, reason or "declined by the user of the MCP client")
    except ToolnexusError:
        pass  # decided elsewhere meanwhile (or it expired): that decision stands
