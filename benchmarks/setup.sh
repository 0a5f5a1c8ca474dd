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

"$py" - <<'PY'
import importlib.metadata as md
print("benchmarks venv ready:", ", ".join(f"{p} {md.version(p)}" for p in ("toolnexus", "prefect", "dask", "distributed")))
PY
