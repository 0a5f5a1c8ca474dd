"""The README stays a user's first page: short, its set-up commands the ones CI runs, its links alive.

The documentation site itself is checked by `mkdocs build --strict` in .ci/test (broken links, missing
pages, bad API references).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _bash_blocks(markdown: str) -> list[str]:
    """The bodies of the ```bash fenced blocks of a Markdown text, in order."""
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL)]


def test_readme_is_short() -> None:
    """Everything beyond a first read lives in docs/."""
    assert len(README.splitlines()) <= 250


def test_readme_setup_commands() -> None:
    """The Quick start's two commands: install and run the hello mission; the test command CI runs."""
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert _bash_blocks(quick_start) == ["pip install -e . && toolnexus run missions/hello.yaml", "bash .ci/test"]
    assert (ROOT / "missions" / "hello.yaml").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run executes exactly the README's test command."""
    commands = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    assert commands[-1] == "exec bash .ci/test"


def test_readme_relative_links_resolve() -> None:
    """Every relative link of the README names a file of the repository."""
    targets = [target for target in re.findall(r"\]\(([^)\s]+)\)", README) if "://" not in target]
    assert targets
    missing = [target for target in targets if not (ROOT / target.split("#", 1)[0]).exists()]
    assert not missing, missing


def _concept_rows() -> list[tuple[str, str]]:
    """The rows of docs/architecture.md's "Where each concept lives" table: (package, what it holds)."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = page.split("## Where each concept lives", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| `")]
    return [(package.strip().strip("`"), holds) for package, holds in rows]


def test_architecture_names_only_modules_that_exist() -> None:
    """Every package of the architecture page, and every module it names inside one, is in the tree."""
    package_root = ROOT / "toolnexus"
    missing = []
    for package, holds in _concept_rows():
        where = ROOT / package if package.startswith("toolnexus/") else package_root / package
        if not where.exists():
            missing.append(package)
            continue
        for name in re.findall(r"`([\w*]+(?:\.py|/))`", holds):
            if where.is_dir() and not list(where.glob(name.rstrip("/"))):
                missing.append(f"{package}{name}")
    assert missing == []


def test_architecture_covers_every_package() -> None:
    """No subpackage or top-level module of toolnexus is left out of the architecture page."""
    named = {package.rstrip("/") for package, _ in _concept_rows()}
    actual = {path.name.removesuffix(".py") if path.is_file() else path.name
              for path in (ROOT / "toolnexus").iterdir()
              if not path.name.startswith("_") and (path.suffix == ".py" or (path / "__init__.py").exists())}
    assert actual - {name.removesuffix(".py") for name in named} == set()
