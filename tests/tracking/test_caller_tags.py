"""An MLflow run says who started it and its correlation id: tags toolnexus.principal, .surface, .tenant and
.correlation_id, whoever started it."""

from __future__ import annotations

import getpass
from pathlib import Path

import toolnexus as tn
from tests.tracking.conftest import register_test_tools, seed_store
from tests.tracking.support import client_of, mlflow_run, synced
from toolnexus.core.caller import Caller, Surface

MISSION = """\
mission: tagged
steps:
  - id: hello
    uses: test.echo
    with: {value: hi}
"""


def test_a_run_is_tagged_with_its_caller_and_correlation_id(tnx: tn.Nexus) -> None:
    someone = Caller(principal="ada", tenant="acme", surface=Surface.MCP)
    theirs = tnx.run(MISSION, caller=someone, correlation_id="order-42")
    mine = tnx.run(MISSION)
    synced(tnx)
    client = client_of(tnx)
    tags = mlflow_run(client, theirs).data.tags
    assert {k: tags[k] for k in tags if k in {"toolnexus.principal", "toolnexus.surface", "toolnexus.tenant",
                                              "toolnexus.correlation_id"}} == {
        "toolnexus.principal": "ada", "toolnexus.surface": "mcp", "toolnexus.tenant": "acme",
        "toolnexus.correlation_id": "order-42"}
    own = mlflow_run(client, mine).data.tags
    assert own["toolnexus.principal"] == getpass.getuser() and own["toolnexus.surface"] == "python"
    assert own["toolnexus.correlation_id"] == mine.run_id and "toolnexus.tenant" not in own


def test_the_tenant_setting_tags_every_run(workspace: Path, mlflow_template: Path) -> None:
    seed_store(workspace / ".toolnexus" / "mlflow.db", mlflow_template)
    with tn.Nexus(workspace, overrides={"tracking.enabled": True, "governance.tenant": "acme"}) as nexus:
        result = register_test_tools(nexus).run(MISSION)
        synced(nexus)
        tags = mlflow_run(client_of(nexus), result).data.tags
    assert tags["toolnexus.tenant"] == "acme" and tags["toolnexus.principal"] == getpass.getuser()
