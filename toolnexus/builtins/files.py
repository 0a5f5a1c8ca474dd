"""``files.read``, ``files.write`` and ``files.list``: file access confined to the workspace."""

from __future__ import annotations

import codecs
import errno
import fnmatch
import os
import stat
from pathlib import Path
from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from toolnexus.builtins.workspace import (
    moved_away,
    open_beneath,
    relative_to_workspace,
    resolve_in_workspace,
    workspace_root,
)
from toolnexus.core.errors import ErrorKind, ToolFailure
from toolnexus.registry.decorator import tool
from toolnexus.sandbox.isolation import STATE_DIR, TRUSTED_FILES

DEFAULT_MAX_READ = 10 * 2**20
# toolnexus keeps its state (runs, approvals, the audit chain) here; a tool must not rewrite it.


class ReadResult(TypedDict):
    """The file's text, its size in bytes and its path relative to the workspace root."""

    text: str
    size: int
    path: str


class WriteResult(TypedDict):
    """The written file's path relative to the workspace root and the number of bytes written."""

    path: str
    bytes: int


class ListResult(TypedDict):
    """Sorted file paths relative to the workspace root, and how many there are."""

    files: list[str]
    count: int


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ToolFailure(f"unknown text encoding {encoding!r}; try 'utf-8' or 'latin-1'",
                          kind=ErrorKind.INVALID_ARGUMENTS) from None


def _not_a_file(path: str) -> ToolFailure:
    return ToolFailure(f"{path!r} is not a regular file (a pipe, socket or device); files tools read and write "
                       "files", kind=ErrorKind.INVALID_ARGUMENTS, details={"path": path})


def _missing(path: str, what: str = "file") -> ToolFailure:
    return ToolFailure(f"no {what} {path!r} in the workspace", kind=ErrorKind.NOT_FOUND,
                       details={"path": path})


def _denied(path: str, exc: OSError) -> ToolFailure:
    return ToolFailure(f"cannot access {path!r}: {exc.strerror or exc}", kind=ErrorKind.DENIED,
                       details={"path": path})


@tool(name="files.read", version="1.0.0", tier="read_only", tags=["files"], register=False,
      examples=[{"arguments": {"path": "data/notes.txt"},
                 "result": {"text": "hello\n", "size": 6, "path": "data/notes.txt"}}])
def read_file(path: str, encoding: str = "utf-8",
              max_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_READ) -> ReadResult:
    """Read a text file of the workspace.

    Any text format is read whole: CSV or TSV tables, JSON, YAML, TOML, Markdown, logs, configuration or
    source code; the caller parses the text as its format needs.

    Args:
        path: Path of the file to read, relative to the workspace root.
        encoding: Text encoding of the file.
        max_bytes: Refuse files larger than this many bytes.
    """
    root = workspace_root()
    target = resolve_in_workspace(path, root)
    _check_encoding(encoding)
    if target.is_dir():
        raise ToolFailure(f"{path!r} is a folder, not a file; use files.list to see what it holds",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"path": path})
    try:
        # Non-blocking: a FIFO the tool made would otherwise hold the call until a writer comes.
        fd = open_beneath(root, target, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _missing(path) from None
    except PermissionError as exc:
        raise _denied(path, exc) from None
    except (NotADirectoryError, OSError) as exc:
        raise moved_away(path, exc) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise _not_a_file(path)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ToolFailure(f"{path!r} is larger than max_bytes={max_bytes}; raise max_bytes to read it",
                          kind=ErrorKind.LIMIT_EXCEEDED, details={"path": path, "max_bytes": max_bytes})
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ToolFailure(f"{path!r} is not valid {encoding} text (byte {exc.start}): {exc.reason}; "
                          "pass the file's encoding, e.g. encoding='latin-1'",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"path": path}) from None
    return {"text": text, "size": len(data), "path": relative_to_workspace(target, root)}


@tool(name="files.write", version="1.0.0", tier="side_effecting", tags=["files"], register=False,
      examples=[{"arguments": {"path": "out/report.md", "content": "# Report\n"},
                 "result": {"path": "out/report.md", "bytes": 9}}])
def write_file(path: str, content: str, append: bool = False, make_dirs: bool = True,
               encoding: str = "utf-8") -> WriteResult:
    """Write (or append) text to a file of the workspace.

    Any text format is written as given: CSV or TSV tables, JSON, YAML, Markdown, logs or source code.

    Args:
        path: Path of the file to write, relative to the workspace root.
        content: The text to write.
        append: Add to the end of the file instead of replacing it.
        make_dirs: Create missing parent folders.
        encoding: Text encoding to write with.
    """
    root = workspace_root()
    target = resolve_in_workspace(path, root)
    if target.is_relative_to(root / STATE_DIR):
        raise ToolFailure(f"{path!r} is inside {STATE_DIR}/, toolnexus's own state; tools may not write it",
                          kind=ErrorKind.DENIED, details={"path": path})
    top = target.relative_to(root).parts[:1]
    if top and top[0] in TRUSTED_FILES:
        # What the host reads and trusts (configuration, manifests, the repository's hooks): a tool that
        # could write it would choose what runs, unsandboxed, next time.
        raise ToolFailure(f"{path!r} is toolnexus's configuration, its tool manifests or the repository "
                          f"({top[0]}); tools may not write it — edit it yourself",
                          kind=ErrorKind.DENIED, details={"path": path})
    _check_encoding(encoding)
    if target.is_dir():
        raise ToolFailure(f"{path!r} is a folder; give the path of a file inside it",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"path": path})
    try:
        data = content.encode(encoding)
    except UnicodeEncodeError as exc:
        raise ToolFailure(f"the content cannot be written as {encoding}: {exc.reason}",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"path": path}) from None
    # Non-blocking and no truncation yet: a pipe must not hold the call, nor a device be truncated.
    flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | (os.O_APPEND if append else 0)
    try:
        with os.fdopen(open_beneath(root, target, flags, make_dirs=make_dirs), "wb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise _not_a_file(path)
            if not append:
                handle.truncate(0)
            handle.write(data)
    except FileNotFoundError:
        parent = relative_to_workspace(target.parent, root)
        raise ToolFailure(f"folder {parent!r} does not exist; pass make_dirs=true to create it",
                          kind=ErrorKind.NOT_FOUND, details={"path": path}) from None
    except PermissionError as exc:
        raise _denied(path, exc) from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a pipe nobody reads
            raise _not_a_file(path) from None
        raise moved_away(path, exc) from None
    return {"path": relative_to_workspace(target, root), "bytes": len(data)}


def _walk(base: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return [base / entry.name for entry in os.scandir(base)]
    found: list[Path] = []
    # followlinks=False: a linked folder is listed as a name, never entered (it may lead anywhere).
    for dirpath, _dirnames, filenames in os.walk(base, followlinks=False):
        found.extend(Path(dirpath) / name for name in filenames)
    return found


@tool(name="files.list", version="1.0.0", tier="read_only", tags=["files"], register=False,
      examples=[{"arguments": {"path": "data", "pattern": "*.csv"},
                 "result": {"files": ["data/apac.csv", "data/emea.csv"], "count": 2}}])
def list_files(path: str = ".", pattern: str = "*", recursive: bool = False) -> ListResult:
    """List the files of a workspace folder, as sorted paths relative to the workspace root.

    Args:
        path: Folder whose files to list, relative to the workspace root.
        pattern: Shell-style pattern (``*``, ``?``, ``[abc]``) the file name must match.
        recursive: Include the files of sub-folders too.
    """
    root = workspace_root()
    base = resolve_in_workspace(path, root)
    if not base.exists():
        raise _missing(path, "folder")
    if not base.is_dir():
        raise ToolFailure(f"{path!r} is a file, not a folder; use files.read to read it",
                          kind=ErrorKind.INVALID_ARGUMENTS, details={"path": path})
    try:
        entries = _walk(base, recursive)
    except PermissionError as exc:
        raise _denied(path, exc) from None
    files: list[str] = []
    for entry in entries:
        if not fnmatch.fnmatchcase(entry.name, pattern):
            continue
        real = Path(os.path.realpath(entry))
        # Links that leave the workspace are left out rather than revealed.
        if real.is_relative_to(root) and real.is_file():
            files.append(relative_to_workspace(entry, root))
    files.sort()
    return {"files": files, "count": len(files)}
