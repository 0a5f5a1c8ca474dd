"""``toolnexus sandbox``: what isolation this machine offers; the docker runtime's base image."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape as esc

from toolnexus.cli.common import (
    EXIT_FAILED,
    app,
    err,
    guarded,
    out,
)

sandbox_app = typer.Typer(no_args_is_help=True, help="Sandboxed runtimes: what this machine offers, base images.")
app.add_typer(sandbox_app, name="sandbox")

@sandbox_app.command("doctor")
@guarded
def sandbox_doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Which isolation this machine offers each runtime (namespaces, cgroups, the sandbox user, wasmtime, a
    Docker engine), and the default caps every sandboxed call gets."""
    from toolnexus.config import load_settings
    from toolnexus.sandbox.isolation import isolation_report

    settings = load_settings().settings
    sandbox = settings.sandbox
    report: dict[str, Any] = dict(isolation_report(sandbox.user, str(settings.workspace_path())))
    try:
        import wasmtime  # noqa: F401

        report["wasmtime"] = True
    except ImportError:
        report["wasmtime"] = False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        report["docker_engine"] = True
    except Exception:  # no SDK, no socket, or no daemon: all mean "not here"
        report["docker_engine"] = False
    caps = {"memory": sandbox.memory, "timeout": sandbox.timeout, "pids_max": sandbox.pids_max}
    if as_json:
        sys.stdout.write(json.dumps({**report, "default_caps": caps}, indent=2) + "\n")
        return
    for name, ok in report.items():
        if isinstance(ok, bool):
            out.print(f"{'[green]yes[/]' if ok else '[yellow]no[/] '}  {name}")
        else:
            out.print(f"     {name}: {esc(str(ok))}")
    memory = f"{sandbox.memory / 2**20:g} MiB" if sandbox.memory else "none"
    timeout = f"{sandbox.timeout:g}s" if sandbox.timeout else "none"
    out.print(f"default caps per call: memory {memory}, time {timeout}, processes {sandbox.pids_max or 'none'} "
              "(\\[sandbox] memory, timeout, pids_max in toolnexus.toml)")


@sandbox_app.command("build-image")
@guarded
def sandbox_build_image(
    tag: Annotated[str, typer.Option("--tag", help="image tag")] = "toolnexus/python:3.11",
    force: Annotated[bool, typer.Option("--force", help="rebuild even when up to date")] = False,
) -> None:
    """Build the docker runtime's base image locally: Debian packages (debootstrap) and our worker."""
    from toolnexus.sandbox.images import ImageBuildError, build_base_image

    try:
        built = build_base_image(tag, force=force, progress=err.print)
    except ImageBuildError as exc:
        err.print(f"[red]error:[/] {esc(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from None
    out.print(f"{built.tag} {built.id[7:19]} ({'built' if built.built else 'up to date'} in {built.seconds:.1f}s)")

