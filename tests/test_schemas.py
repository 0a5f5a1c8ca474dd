"""The JSON Schemas in schemas/ are generated from the models and kept current; missions use them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO
from toolnexus.schemas import SCHEMAS, render, stale_schemas

MISSIONS = sorted((REPO / "missions").glob("*.yaml"))


def test_schemas_are_current() -> None:
    stale = stale_schemas(REPO / "schemas")
    assert stale == [], f"regenerate with `toolnexus schemas`: {stale}"


def test_stale_schema_is_detected(tmp_path: Path) -> None:
    for name in SCHEMAS:
        (tmp_path / name).write_text(render(name))
    (tmp_path / "mission.schema.json").write_text("{}\n")
    assert stale_schemas(tmp_path) == ["mission.schema.json"]


@pytest.mark.parametrize("mission", MISSIONS, ids=lambda p: p.name)
def test_example_missions_validate_against_the_schema_and_point_at_it(mission: Path) -> None:
    text = mission.read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/mission.schema.json")
    schema = json.loads((REPO / "schemas" / "mission.schema.json").read_text())
    jsonschema.validate(YAML(typ="safe").load(text), schema)


def test_schema_rejects_unknown_step_keys() -> None:
    schema = json.loads((REPO / "schemas" / "mission.schema.json").read_text())
    bad = {"mission": "m", "steps": [{"id": "a", "uses": "x", "wiht": {}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
