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
