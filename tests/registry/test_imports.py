"""Importing the registry or the CLI must not import numpy (search loads it on first use).

Every CLI command and every process-runtime worker imports ``toolnexus.registry``; numpy's import costs
~100-200 ms and enough address space to break a worker under a tight ``RLIMIT_AS``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import {module}
loaded_before = "numpy" in sys.modules
from toolnexus.core.spec import ToolSpec
from toolnexus.registry import Registry
registry = Registry([ToolSpec(name="csv.to_parquet", summary="Convert a CSV file to Parquet")])
registry.register(ToolSpec(name="files.read", summary="Read a file"))
hits = [h.name for h in registry.search("csv parquet")]
print(json.dumps({{"before": loaded_before, "after": "numpy" in sys.modules, "hits": hits}}))
"""


@pytest.mark.parametrize("module", ["toolnexus.registry", "toolnexus.cli", "toolnexus.registry.search"])
def test_importing_does_not_import_numpy_until_the_first_search(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)], capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] is False, f"import {module} imported numpy"
    assert result["after"] is True  # the first search loads the index
    assert result["hits"] == ["csv.to_parquet"]
