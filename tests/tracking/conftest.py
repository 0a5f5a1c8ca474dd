"""Tracking fixtures: Nexus objects with MLflow tracking on, each on a real SQLite store of its own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import toolnexus as tn
from toolnexus.registry import spec_of


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with its schema created. Creating one takes seconds (migrations),
    copying it a millisecond, so each test still gets a store of its own."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def register_test_tools(nexus: tn.Nexus) -> tn.Nexus:
    from tests.fixtures.tools import ALL
    from tests.tracking.tools import ALL as TRACKING_TOOLS

    for fn in [*ALL, *TRACKING_TOOLS]:
        nexus.registry.register(spec_of(fn))
    return nexus


def seed_store(path: Path, template: Path) -> None:
    """Put an empty, migrated MLflow database at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)


@pytest.fixture
def tnx(workspace: Path, mlflow_template: Path) -> Iterator[tn.Nexus]:
    """A Nexus with tracking on and the test tools, recording into the workspace's default store
    (``.toolnexus/mlflow.db``, seeded empty)."""
    seed_store(workspace / ".toolnexus" / "mlflow.db", mlflow_template)
    with tn.Nexus(workspace, overrides={"tracking.enabled": True}) as nexus:
        yield register_test_tools(nexus)
