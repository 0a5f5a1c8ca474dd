"""Secrets a tool returns, prints or puts in its error never leave the invocation path; a run's inputs and a
call's arguments are recorded scrubbed, while the tool gets them as they are."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
from pathlib import Path

import pytest

import toolnexus as tn
from tests.engine.support import Recorder
from toolnexus import ToolFailure, tool
from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.core.secrets import scrub_text
from toolnexus.core.spec import ToolEntry, ToolSpec
from toolnexus.registry import spec_of

TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"


@tool(name="scrub.leaky", register=False)
def leaky(fail: bool = False) -> dict:
    """Return (or fail with) a credential."""
    if fail:
        raise ToolFailure(f"could not log in with {TOKEN}", details={"password": "hunter2"})
    return {"token_used": TOKEN, "password": "hunter2", "rows": 3}


def test_outputs_and_errors_are_scrubbed(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(leaky))
        ok = nexus.call("scrub.leaky")
        assert ok.output == {"token_used": "***", "password": "***", "rows": 3}
        failed = nexus.call("scrub.leaky", fail=True)
        assert TOKEN not in failed.error.message and "***" in failed.error.message
        assert failed.error.details == {"password": "***"}
        nexus.store.flush()
        stored = nexus.store._conn().execute("SELECT result FROM calls").fetchall()
        assert all(TOKEN not in row["result"] and "hunter2" not in row["result"] for row in stored)


PNG = bytes(range(48))  # 64 characters of base64: token-sized and high-entropy, like a credential


@tool(name="scrub.picture", register=False)
def picture() -> tn.Content:
    """Return an image, an embedded binary resource and a text that leaks a token."""
    return tn.Content(tn.Image(data=PNG, mime_type="image/png"),
                      tn.EmbeddedResource(uri="file:///x.bin", blob=PNG, mime_type="application/octet-stream"),
                      tn.Text(f"logged in with {TOKEN}"))


def test_content_payloads_are_data_not_secrets(workspace: Path) -> None:
    payload = base64.b64encode(PNG).decode()
    assert scrub_text(payload) == "***"  # outside a content block, the scrubber would take it for a key
    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(picture))
        result = nexus.call("scrub.picture")
        assert result.ok, result.error
        blocks = result.output["blocks"]
        assert [b.get("data") or b.get("blob") for b in blocks[:2]] == [payload, payload]
        assert blocks[2]["text"] == "logged in with ***"  # other fields of blocks are still scrubbed


# -- inputs and arguments: scrubbed where first recorded, real for the tool ------------------------------------


def _unique() -> str:
    return "Zq7" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(25))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@tool(name="scrub.digest", register=False)
def digest(api_token: str = "", text: str = "", password: str = "", fail: bool = False) -> dict:
    """What the tool got (as a digest, which is no secret), and an echo of it."""
    if fail:
        raise ToolFailure("asked to fail")
    return {"got": _digest(api_token or text), "echo": f"token is {api_token or text}"}


LITERAL = _unique()  # a password written into the mission text itself
MISSION = """\
mission: scrub-inputs
inputs:
  api_token: {type: string}
steps:
  - id: use
    uses: scrub.digest
    with: {text: "${{ inputs.api_token }}"}
  - id: login
    uses: scrub.digest
    with: {password: "LITERAL", text: "x"}
    continue_on_error: true
outputs:
  got: "${{ steps.use.outputs.got }}"
  token: "${{ inputs.api_token }}"
""".replace("LITERAL", LITERAL)


def test_a_secret_named_input_is_recorded_scrubbed_and_reaches_its_steps_as_it_is(workspace: Path) -> None:
    token = _unique()
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        nexus.registry.register(spec_of(digest))
        result = nexus.run(MISSION, {"api_token": token})
        stored = nexus.store.get_run(result.run_id)
    assert stored is not None
    assert result.outputs["got"] == _digest(token)  # the step was handed the real value
    assert result.inputs == {"api_token": "***"} and result.outputs["token"] == "***"
    assert result.steps["use"].output["echo"] == "token is ***"  # passed on under another name, still known
    started = recorder.of("run_started")[0]
    assert started.inputs == {"api_token": "***"}  # type: ignore[attr-defined]
    assert all(token not in event.model_dump_json() for event in recorder.events)
    record = json.dumps([stored.inputs, stored.to_result().model_dump(mode="json"), stored.plan, stored.source])
    assert token not in record and LITERAL not in record  # nor the mission text's own literal
    assert stored.plan is not None and "api_token" in stored.plan["inputs"]  # the plan keeps its shape: it loads


def test_a_run_whose_inputs_held_secrets_is_not_resumed_with_stars(workspace: Path) -> None:
    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(digest))
        failing = MISSION.replace('text: "x"}', 'fail: true}').replace("continue_on_error: true", "")
        failed = nexus.run(failing, {"api_token": _unique()})
        assert failed.status.value == "failed"
        with pytest.raises(DiagnosticError, match="api_token held secrets"):
            nexus.run(MISSION, resume=failed.run_id)


def test_call_arguments_are_recorded_scrubbed_and_reach_the_tool_as_they_are(workspace: Path) -> None:
    token = _unique()
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        nexus.registry.register(spec_of(digest))
        result = nexus.call("scrub.digest", api_token=token)
        nexus.store.flush()
        stored = nexus.store._conn().execute("SELECT arguments, result FROM calls").fetchall()
    assert result.output == {"got": _digest(token), "echo": "token is ***"}
    for event in recorder.of("call_started") + recorder.of("call_finished"):
        assert event.call.arguments == {"api_token": "***"}  # type: ignore[attr-defined]
    assert stored and all(token not in row["arguments"] + row["result"] for row in stored)


def test_errors_of_our_own_making_are_scrubbed(workspace: Path) -> None:
    # A JSON Schema message quotes the offending value: here, a password given where a number belongs.
    password = _unique()
    spec = ToolSpec(name="scrub.pin", input_schema={"type": "object", "properties": {"password": {"type": "integer"}}})
    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec.bind(lambda arguments: arguments["password"]))
        result = nexus.call("scrub.pin", password=password)
    assert result.error is not None and result.error.kind.value == "invalid_arguments"
    assert password not in result.error.model_dump_json() and "***" in result.error.message


def test_a_tools_secret_named_environment_is_known(workspace: Path) -> None:
    secret = _unique()
    spec = ToolSpec(name="scrub.service", entry=ToolEntry(kind="python", env={"SERVICE_API_KEY": secret}))
    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec.bind(lambda arguments: {"log": f"connected as {secret[:12]}…"}))
        result = nexus.call("scrub.service")
    assert result.output == {"log": "connected as ***…"}


def test_the_decision_is_announced_with_the_arguments_scrubbed_once_for_the_calls_events(workspace: Path) -> None:
    token = _unique()
    recorder = Recorder()
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        nexus.registry.register(spec_of(digest))
        nexus.call("scrub.digest", api_token=token)
    (started,) = recorder.of("call_started")
    (decided,) = recorder.of("gate_decided")
    assert decided.call.arguments == {"api_token": "***"}  # type: ignore[attr-defined]
    assert decided.call.arguments is started.call.arguments  # type: ignore[attr-defined]  # (not scrubbed again)


def test_a_secret_the_tools_environment_declares_is_scrubbed_from_the_announced_arguments(workspace: Path) -> None:
    # The call's events scrubbed its arguments before the tool's env was declared: the decision, announced after,
    # does not reuse them, but scrubs them against the secrets known by then.
    secret = "plain-words-" + secrets.choice(["kettle", "harbour", "meadow"])  # (low entropy: only knowing finds it)
    recorder = Recorder()
    spec = ToolSpec(name="scrub.envd", entry=ToolEntry(kind="python", env={"SERVICE_API_KEY": secret}))
    with tn.Nexus(workspace, sinks=[recorder]) as nexus:
        nexus.registry.register(spec.bind(lambda arguments: {"ok": True}))
        nexus.call("scrub.envd", note=f"key {secret}")
    (decided,) = recorder.of("gate_decided")
    assert decided.call.arguments == {"note": "key ***"}  # type: ignore[attr-defined]
