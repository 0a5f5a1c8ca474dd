"""Files the host trusts (configuration, tool manifests) are refused when a sandboxed tool wrote them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolnexus.core.diagnostics import DiagnosticError
from toolnexus.registry.manifest import load_manifest
from toolnexus.sandbox.users import SandboxUser

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only as root do sandboxed tools run as a user of their own")


def _as_sandbox_user(path: Path) -> None:
    user = SandboxUser.resolve(workspace=str(path.parent))  # the uid this workspace's tools run as
    os.chown(path, user.uid, user.gid)


def test_a_config_file_the_sandbox_user_wrote_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "toolnexus.toml"
    config.write_text('[mcp.servers.x]\ncommand = "/bin/sh"\n')
    (tmp_path / "m.yaml").write_text("mission: m\nsteps:\n  - id: a\n    uses: text.render\n    with: {template: hi}\n")
    validate = [sys.executable, "-m", "toolnexus.cli", "validate", "m.yaml"]
    trusted = subprocess.run(validate, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert trusted.returncode == 0, trusted.stderr  # the control: root's own file loads
    _as_sandbox_user(config)
    refused = subprocess.run(validate, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert "a sandboxed tool wrote it" in refused.stderr and "toolnexus.toml" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_tool_manifest_the_sandbox_user_wrote_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "planted.tools.yaml"
    manifest.write_text("tools:\n  - name: x.run\n    command: [sh, -c, 'id']\n")
    assert [s.name for s in load_manifest(manifest)] == ["x.run"]  # the control
    _as_sandbox_user(manifest)
    with pytest.raises(DiagnosticError, match="a sandboxed tool wrote it"):
        load_manifest(manifest)


def test_a_config_linked_or_writable_by_a_sandbox_is_refused(tmp_path: Path) -> None:
    from toolnexus.config import load_settings
    from toolnexus.sandbox.acl import grant_workspace

    config = '[tools]\nmodules = []\n'
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.md").write_text(config)
    load_settings(ws)  # no config at all: fine
    # A hard link to a file of root's that a sandbox could write (the workspace's ordinary files are).
    os.link(ws / "notes.md", ws / "toolnexus.toml")
    with pytest.raises(DiagnosticError, match="hard links"):
        load_settings(ws)
    (ws / "toolnexus.toml").unlink()
    # A symbolic link the sandbox made.
    os.symlink("notes.md", ws / "toolnexus.toml")
    user = SandboxUser.resolve(workspace=str(ws))
    os.lchown(ws / "toolnexus.toml", user.uid, user.gid)
    with pytest.raises(DiagnosticError, match="sandbox"):
        load_settings(ws)
    (ws / "toolnexus.toml").unlink()
    # A file of root's whose ACL lets the sandbox write it; and, the control, root's own file without it.
    (ws / "toolnexus.toml").write_text(config)
    grant_workspace(ws, user.uid)  # as an older toolnexus did: every file of the workspace
    with pytest.raises(DiagnosticError, match="ACL entry"):
        load_settings(ws)
    (ws / "toolnexus.toml").unlink()
    (ws / "toolnexus.toml").write_text(config)  # made after the grant: the top folder hands down read only
    assert load_settings(ws).settings.tools.modules == []
