"""files.read / files.write / files.list, and the workspace boundary they share."""

from __future__ import annotations

import os

import pytest

from toolnexus.builtins.files import list_files, read_file, write_file
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import spec_of

read = spec_of(read_file).callable
write = spec_of(write_file).callable
listing = spec_of(list_files).callable


def test_write_then_read_round_trips_text(in_workspace):
    with in_workspace() as ws:
        assert write({"path": "out/notes.txt", "content": "héllo\n"}) == {"path": "out/notes.txt", "bytes": 7}
        assert (ws / "out" / "notes.txt").read_text(encoding="utf-8") == "héllo\n"
        assert read({"path": "out/notes.txt"}) == {"text": "héllo\n", "size": 7, "path": "out/notes.txt"}


def test_write_refuses_the_state_folder(in_workspace):
    with in_workspace() as ws:
        (ws / ".toolnexus").mkdir()
        os.symlink(ws / ".toolnexus", ws / "state")
        for path in (".toolnexus/state.db", "state/audit.log", "sub/../.toolnexus/x"):
            with pytest.raises(ToolFailure) as failure:
                write({"path": path, "content": "tampered"})
            assert failure.value.error.kind is ErrorKind.DENIED
        assert list((ws / ".toolnexus").iterdir()) == []


def test_write_appends(in_workspace):
    with in_workspace() as ws:
        write({"path": "log.txt", "content": "a\n"})
        assert write({"path": "log.txt", "content": "b\n", "append": True}) == {"path": "log.txt", "bytes": 2}
        assert (ws / "log.txt").read_text() == "a\nb\n"


def test_write_without_make_dirs_reports_the_missing_folder(in_workspace):
    with in_workspace() as ws, pytest.raises(ToolFailure) as failure:
        write({"path": "missing/x.txt", "content": "x", "make_dirs": False})
    assert failure.value.error.kind is ErrorKind.NOT_FOUND
    assert "make_dirs" in failure.value.error.message
    assert not (ws / "missing").exists()


def test_read_missing_file_is_not_found(in_workspace):
    with in_workspace(), pytest.raises(ToolFailure) as failure:
        read({"path": "nope.txt"})
    assert failure.value.error.kind is ErrorKind.NOT_FOUND


def test_read_refuses_files_over_max_bytes(in_workspace):
    with in_workspace() as ws:
        (ws / "big.txt").write_text("x" * 100)
        assert read({"path": "big.txt", "max_bytes": 100})["size"] == 100
        with pytest.raises(ToolFailure) as failure:
            read({"path": "big.txt", "max_bytes": 99})
    assert failure.value.error.kind is ErrorKind.LIMIT_EXCEEDED


def test_read_with_wrong_encoding_says_which_to_pass(in_workspace):
    with in_workspace() as ws:
        (ws / "latin.txt").write_bytes("café".encode("latin-1"))
        with pytest.raises(ToolFailure) as failure:
            read({"path": "latin.txt"})
        assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
        assert "encoding" in failure.value.error.message
        assert read({"path": "latin.txt", "encoding": "latin-1"})["text"] == "café"


def test_absolute_path_inside_the_workspace_is_accepted(in_workspace):
    with in_workspace() as ws:
        (ws / "a.txt").write_text("A")
        assert read({"path": str(ws / "a.txt")})["path"] == "a.txt"


def test_list_is_sorted_relative_to_root_and_filtered(in_workspace):
    with in_workspace() as ws:
        for name in ("data/b.csv", "data/a.csv", "data/notes.md", "data/deep/c.csv", "top.csv"):
            (ws / name).parent.mkdir(parents=True, exist_ok=True)
            (ws / name).write_text(name)
        assert listing({"path": "data"}) == {
            "files": ["data/a.csv", "data/b.csv", "data/notes.md"], "count": 3}
        assert listing({"path": "data", "pattern": "*.csv", "recursive": True}) == {
            "files": ["data/a.csv", "data/b.csv", "data/deep/c.csv"], "count": 3}
        assert listing({"recursive": True, "pattern": "*.csv"})["count"] == 4


def test_list_missing_folder_is_not_found(in_workspace):
    with in_workspace(), pytest.raises(ToolFailure) as failure:
        listing({"path": "nowhere"})
    assert failure.value.error.kind is ErrorKind.NOT_FOUND


@pytest.mark.parametrize("escape", ["../outside/secret.txt", "data/../../outside/secret.txt"])
def test_dotdot_escapes_are_denied(in_workspace, escape):
    with in_workspace() as ws:
        outside = ws.parent / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text("secret")
        for call, args in ((read, {"path": escape}), (write, {"path": escape, "content": "pwned"}),
                           (listing, {"path": escape.rsplit("/", 1)[0]})):
            with pytest.raises(ToolFailure) as failure:
                call(args)
            assert failure.value.error.kind is ErrorKind.DENIED
            assert "outside the workspace" in failure.value.error.message
        assert (outside / "secret.txt").read_text() == "secret"


def test_absolute_path_outside_is_denied(in_workspace):
    with in_workspace() as ws:
        secret = ws.parent / "secret.txt"
        secret.write_text("secret")
        with pytest.raises(ToolFailure) as failure:
            read({"path": str(secret)})
        assert failure.value.error.kind is ErrorKind.DENIED
        with pytest.raises(ToolFailure) as failure:
            write({"path": "/tmp/../" + str(secret).lstrip("/"), "content": "pwned"})
        assert failure.value.error.kind is ErrorKind.DENIED
        assert secret.read_text() == "secret"


def test_symlinks_pointing_outside_are_denied_and_not_listed(in_workspace):
    with in_workspace() as ws:
        outside = ws.parent / "outside"
        outside.mkdir()
        (outside / "secret.txt").write_text("secret")
        os.symlink(outside / "secret.txt", ws / "link.txt")
        os.symlink(outside, ws / "linkdir")
        os.symlink(outside / "new.txt", ws / "dangling.txt")
        (ws / "inside.txt").write_text("ok")
        os.symlink(ws / "inside.txt", ws / "alias.txt")

        for call, args in ((read, {"path": "link.txt"}), (read, {"path": "linkdir/secret.txt"}),
                           (write, {"path": "linkdir/new.txt", "content": "x"}),
                           (write, {"path": "dangling.txt", "content": "x"}),
                           (listing, {"path": "linkdir"})):
            with pytest.raises(ToolFailure) as failure:
                call(args)
            assert failure.value.error.kind is ErrorKind.DENIED, args
        assert not (outside / "new.txt").exists()
        # A link that stays inside is an ordinary file; links that leave are left out of listings.
        assert read({"path": "alias.txt"})["text"] == "ok"
        assert listing({"recursive": True})["files"] == ["alias.txt", "inside.txt"]


# -- a folder swapped for a link between the check and the open (as a sandboxed tool could race it) ----


def _swap_after_check(monkeypatch, ws, folder: str, outside):
    """Make the path check pass on the real folder, then swap the folder for a link to ``outside``."""
    import toolnexus.builtins.files as files

    checked = files.resolve_in_workspace

    def check_then_swap(path, root=None):
        resolved = checked(path, root)
        (ws / folder).rename(ws / f"{folder}.moved")
        (ws / folder).symlink_to(outside)
        return resolved

    monkeypatch.setattr(files, "resolve_in_workspace", check_then_swap)


def test_write_does_not_follow_a_folder_swapped_for_a_link(in_workspace, tmp_path, monkeypatch):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    with in_workspace() as ws:
        (ws / "d").mkdir()
        _swap_after_check(monkeypatch, ws, "d", outside)
        with pytest.raises(ToolFailure) as failure:
            write({"path": "d/pwn.txt", "content": "escaped"})
    assert failure.value.error.kind is ErrorKind.DENIED
    assert list(outside.iterdir()) == []


def test_read_does_not_follow_a_folder_swapped_for_a_link(in_workspace, tmp_path, monkeypatch):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret")
    with in_workspace() as ws:
        (ws / "d").mkdir()
        (ws / "d" / "secret.txt").write_text("workspace file")
        _swap_after_check(monkeypatch, ws, "d", outside)
        with pytest.raises(ToolFailure) as failure:
            read({"path": "d/secret.txt"})
    assert failure.value.error.kind is ErrorKind.DENIED
    assert "host secret" not in str(failure.value.error)


def test_a_pipe_is_refused_at_once_not_waited_on(in_workspace):
    with in_workspace() as ws:
        os.mkfifo(ws / "pipe")
        with pytest.raises(ToolFailure) as failure:
            read({"path": "pipe"})  # with a blocking open this would wait for a writer forever
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert "not a regular file" in failure.value.error.message


@pytest.mark.parametrize("path", ["toolnexus.toml", "pyproject.toml", "tools/planted.tools.yaml", ".git/config",
                                  ".git/hooks/pre-commit", ".mcp.json"])
def test_write_refuses_what_the_host_trusts(in_workspace, path):
    with in_workspace() as ws, pytest.raises(ToolFailure) as failure:
        write({"path": path, "content": "[mcp.servers.x]\ncommand = 'sh'\n"})
    assert failure.value.error.kind is ErrorKind.DENIED
    assert not (ws / path).exists()


def test_a_pipe_is_not_written_to_either(in_workspace):
    with in_workspace() as ws:
        os.mkfifo(ws / "pipe")
        with pytest.raises(ToolFailure) as failure:
            write({"path": "pipe", "content": "x"})  # a blocking open would wait for a reader forever
    assert failure.value.error.kind is ErrorKind.INVALID_ARGUMENTS
