"""Every example mission in missions/ runs, offline, through the CLI — as a user would run it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from tests.conftest import REPO
from toolnexus.cli import app

runner = CliRunner()


@pytest.fixture
def project(workspace: Path) -> Path:
    shutil.copytree(REPO / "missions", workspace / "missions")
    return workspace


def run_cli(*args: str) -> tuple[int, dict | None, str]:
    result = runner.invoke(app, ["run", *args, "--json", "--no-progress"])
    try:
        body = json.loads(result.stdout)
    except json.JSONDecodeError:
        body = None
    return result.exit_code, body, result.stderr


def test_every_mission_validates(project: Path) -> None:
    missions = sorted(str(p.relative_to(project)) for p in (project / "missions").glob("*.yaml"))
    assert len(missions) >= 3
    result = runner.invoke(app, ["validate", *missions])
    assert result.exit_code == 0, result.stderr


def test_hello(project: Path) -> None:
    code, result, err = run_cli("missions/hello.yaml")
    assert code == 0, err
    assert result["outputs"] == {
        "greeting": "Hello, world!",
        "file": "out/hello.txt",
        "lines": len((project / "out/hello.txt").read_text().splitlines()),  # lines, not characters
    }


def test_csv_report_cleans_fans_out_and_publishes(project: Path) -> None:
    code, result, err = run_cli("missions/csv_report.yaml", "-i", "top=2")
    assert code == 0, err
    steps = result["steps"]
    assert steps["read"]["items"] == 3 and steps["clean"]["items"] == 3
    regions = {r["result"]["region"]: r["result"] for r in steps["clean"]["output"]}
    assert set(regions) == {"emea", "amer", "apac"}
    # Each extract has three bad rows: a blank product, a non-numeric count and a duplicate.
    assert all(r["rejected"] == 3 and r["rows"] == 41 and len(r["top"]) == 2 for r in regions.values())
    report = (project / "out/sales-report.md").read_text()
    assert "123 clean rows (9 rejected)" in report
    assert result["outputs"]["revenue"] == pytest.approx(sum(r["revenue"] for r in regions.values()))


def test_resilient_ingest_fails_after_retries_then_resumes(project: Path) -> None:
    code, first, _ = run_cli("missions/resilient_ingest.yaml")
    assert code == 1
    assert first["status"] == "failed"
    upstream = first["steps"]["upstream"]
    assert upstream["attempts"] == 2  # the retry absorbed one failure, the second ended the run
    assert upstream["error"]["kind"] == "tool_error" and upstream["error"]["retryable"] is True
    assert first["steps"]["load"]["status"] == "skipped"

    code, second, err = run_cli("--resume", first["run_id"])
    assert code == 0, err
    assert second["resumed_from"] == first["run_id"]
    # `reset` was kept from the first run; re-running it would have zeroed the counter.
    assert second["steps"]["reset"]["resumed"] is True
    assert second["outputs"]["calls"] == 3
    assert json.loads((project / "out/ingest/loaded.json").read_text()) == [{"id": 1}, {"id": 2}, {"id": 3}]


def test_resume_refuses_a_succeeded_run(project: Path) -> None:
    _, result, _ = run_cli("missions/hello.yaml")
    code, _, err = run_cli("--resume", result["run_id"])
    assert code == 2 and "nothing to resume" in err


def test_mcp_time_uses_the_tools_of_an_mcp_server(project: Path) -> None:
    # The mission's folder is its workspace: its toolnexus.toml configures mcp-server-time as `time`.
    folder = "missions/mcp_time"
    validated = runner.invoke(app, ["validate", "-w", folder, f"{folder}/mcp_time.yaml"])
    assert validated.exit_code == 0, validated.stderr
    code, result, err = run_cli("-w", folder, f"{folder}/mcp_time.yaml", "-i", "zone=Asia/Tokyo", "-i",
                                "meeting=09:30", "-i", "attendees_zone=UTC")
    assert code == 0, err
    outputs = result["outputs"]
    assert outputs["now"].endswith("+09:00")
    assert outputs["meeting_there"].endswith("T00:30:00+00:00")  # 09:30 in Tokyo is 00:30 UTC
    assert outputs["difference"] == "-9.0h"
    assert result["steps"]["now"]["output"]["timezone"] == "Asia/Tokyo"
    assert outputs["note"].startswith(f"It is {outputs['now']} in Asia/Tokyo")


def test_missions_in_folders_validate_against_the_schema() -> None:
    schema = json.loads((REPO / "schemas" / "mission.schema.json").read_text())
    for mission in sorted((REPO / "missions").glob("*/*.yaml")):
        text = mission.read_text()
        assert text.startswith("# yaml-language-server: $schema=../../schemas/mission.schema.json"), mission
        jsonschema.validate(YAML(typ="safe").load(text), schema)
