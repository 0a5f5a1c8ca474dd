"""The store's JSON of a model: a lone surrogate (an undecodable file name) does not lose the record."""

from __future__ import annotations

import json
from pathlib import Path

import toolnexus as tn
from toolnexus.core.call import ToolResult
from toolnexus.registry import spec_of
from toolnexus.store.records import model_json

ODD = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # as os.listdir gives an undecodable name


def test_a_model_is_written_as_pydantic_writes_it() -> None:
    result = ToolResult(call_id="c", tool="t", version="1", output={"name": "café", "n": 2})
    assert model_json(result) == result.model_dump_json()


def test_a_lone_surrogate_is_written_as_its_escape_text_and_reads_back() -> None:
    result = ToolResult(call_id="c", tool="t", version="1", output={"names": [ODD], ODD: 1})
    text = model_json(result)
    text.encode("utf-8")  # valid UTF-8: a database takes it
    back = ToolResult.model_validate_json(text)
    assert back.output == {"names": ["caf\\udce9.txt"], "caf\\udce9.txt": 1}


def test_a_step_whose_output_holds_a_lone_surrogate_is_stored(workspace: Path) -> None:
    @tn.tool(name="files.odd_name")
    def odd_name() -> str:
        """Return an undecodable file name."""
        return ODD

    mission = "mission: odd\nsteps:\n  - id: a\n    uses: files.odd_name\n"
    with tn.Nexus(workspace) as nexus:
        nexus.registry.register(spec_of(odd_name))
        result = nexus.run(mission)
        assert result.ok, result.error
        assert nexus.store is not None
        stored = nexus.store.steps(result.run_id)
    assert stored["a"].status.value == "succeeded"
    assert json.dumps(stored["a"].output) == json.dumps("caf\\udce9.txt")
