"""LoadedMission: what it keeps once the mission is built."""

from __future__ import annotations

import dataclasses

from toolnexus.mission.loader import LoadedMission, parse_mission

TEXT = "mission: m\nsteps:\n  - id: a\n    uses: t.x\n  - id: b\n    uses: t.x\n    needs: a\n"


def test_the_plain_data_is_not_kept_but_read_again_on_demand() -> None:
    loaded = parse_mission(TEXT, "m.yaml")
    assert "data" not in {f.name for f in dataclasses.fields(LoadedMission)}
    assert loaded.data == {
        "mission": "m",
        "steps": [{"id": "a", "uses": "t.x"}, {"id": "b", "uses": "t.x", "needs": "a"}],
    }


def test_repeated_texts_are_one_string_object() -> None:
    mission = parse_mission(TEXT).require()
    assert mission.steps[0].uses is mission.steps[1].uses
    assert mission.steps[1].needs[0] is mission.steps[0].id


def test_steps_written_with_the_same_keys_share_a_fields_set_until_one_is_assigned() -> None:
    first, second = parse_mission(TEXT.replace("    needs: a\n", "")).require().steps
    assert first.model_fields_set is second.model_fields_set  # {"id", "uses"}: one set for both
    first.timeout = 5.0
    assert (first.model_fields_set, second.model_fields_set) == ({"id", "uses", "timeout"}, {"id", "uses"})
    assert second.model_copy(update={"name": "n"}).model_fields_set == {"id", "uses", "name"}
    assert second.model_fields_set == {"id", "uses"}
