"""``toolnexus flags``: list the workspace's rollout flags, and set or unset them in the state store.

A flag set here replaces the ``[flags.NAME]`` table of ``toolnexus.toml`` of that name, whole, in every process
sharing the store (within a tenth of a second, no restart); unsetting it lets the toml flag (if any) apply again.
Each change is made as the OS user and recorded in the audit log (``governance.flag_changed``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape as esc
from rich.table import Table

# toolnexus's own modules are imported by the commands that use them: ``toolnexus --help`` imports this module
# to list its commands, and must not pay for the Nexus, governance or the store.
if TYPE_CHECKING:
    from toolnexus.api import Nexus
    from toolnexus.core.diagnostics import Diagnostic
    from toolnexus.governance.flag_store import StoredFlags
    from toolnexus.store.flags import FlagRow
from toolnexus.cli.common import Workspace, add_row, app, err, guarded, json_value, out

flags_app = typer.Typer(no_args_is_help=True, help="List rollout flags; set and unset them in the state store.")
app.add_typer(flags_app, name="flags")

NameArg = Annotated[str, typer.Argument(help="the flag's name (e.g. new-search, experimental.files.sync)")]
ReasonOption = Annotated[str | None, typer.Option("--reason", "-r", help="why: recorded in the audit log")]
Names = Annotated[list[str] | None, typer.Option(help="names or globs; repeat the option for more")]


@contextmanager
def _stored(workspace: Workspace) -> Iterator[tuple[Nexus, StoredFlags]]:
    """The workspace's Nexus and the flags of its state store (changes announced on its bus, so audited)."""
    from toolnexus.api import Nexus
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    with Nexus(workspace) as nexus:
        flags = nexus.governed.flags
        if flags is None or flags.stored is None:  # pragma: no cover - the CLI always opens the store
            raise DiagnosticError([Diagnostic(message="rollout flags in the store need the state store")])
        yield nexus, flags.stored


def _when(at: float | None) -> str:
    return "" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _summary(definition: dict[str, Any]) -> str:
    """A flag's definition in a line: its default, then each rule as ``value for key=a,b ...``."""
    from toolnexus.governance.flag_model import TARGETS

    parts = [f"default {json.dumps(definition.get('default', False))}"]
    for rule in definition.get("rules", []):
        targets = " ".join(f"{key}={','.join(rule[key])}" for key, _ in TARGETS if rule.get(key))
        parts.append(f"{json.dumps(rule.get('value'))} for {targets or 'every call'}")
    return "; ".join(parts)


def _listing(nexus: Nexus, stored: StoredFlags) -> list[dict[str, Any]]:
    """Every flag, by name: the store's (over the toml one of the same name) and the toml's."""
    rows = {row.name: row for row in stored.list()}
    toml = nexus.settings.flags.flags
    listing = []
    for name in sorted(set(rows) | set(toml)):
        row = rows.get(name)
        if row is not None:
            source = "store (over toolnexus.toml)" if name in toml else "store"
            listing.append({"name": name, "source": source, "definition": row.value, "by": row.by,
                            "at": _when(row.at)})
        else:
            definition = toml[name].model_dump(exclude_defaults=True) | {"default": toml[name].default}
            listing.append({"name": name, "source": "toolnexus.toml", "definition": definition, "by": None, "at": ""})
    return listing


@flags_app.command("list")
@guarded
def flags_list(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
               workspace: Workspace = None) -> None:
    """The workspace's flags: those of toolnexus.toml and those set in the state store (which win)."""
    with _stored(workspace) as (nexus, stored):
        listing = _listing(nexus, stored)
        provider = nexus.settings.flags.provider
    if as_json:
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
        return
    if provider:
        err.print(f"note: \\[flags] provider = {esc(provider)} serves every flag; these are not read")
    if not listing:
        err.print("no rollout flag is defined (set one with `toolnexus flags set NAME --on --reason ...`)")
        return
    table = Table("name", "source", "value", "set by", "since")
    for item in listing:
        add_row(table, item["name"], item["source"], _summary(item["definition"]), item["by"] or "", item["at"])
    out.print(table)


def _one_value(on: bool, off: bool, value: str | None) -> Any:
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    given = [v for v, is_given in ((True, on), (False, off), (value, value is not None)) if is_given]
    if len(given) != 1:
        raise DiagnosticError([Diagnostic(message="give the flag's value: one of --on, --off or --value JSON",
                                          hint="e.g. toolnexus flags set new-search --on --tenant acme "
                                               "--reason 'pilot'")])
    return json_value(given[0]) if isinstance(given[0], str) else given[0]


def definition_from(value: Any, targets: dict[str, list[str]], default: str | None,
                    description: str | None) -> dict[str, Any]:
    """The flag definition the options of ``flags set`` describe: ``value`` for every call, or — with targeting
    options — for the calls they match (one rule) and ``default`` for the others."""
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    if isinstance(value, dict):
        if targets or default is not None:
            raise DiagnosticError([Diagnostic(message="--value with a whole definition (a JSON object) takes no "
                                              "targeting options or --default: put them in its rules")])
        definition = dict(value)
    elif targets:
        if default is None and not isinstance(value, bool):
            raise DiagnosticError([Diagnostic(message=f"a targeted value {json.dumps(value)} needs --default: "
                                              "the value of the calls the targeting does not match",
                                              hint="e.g. --value '\"green\"' --tenant acme --default '\"blue\"'")])
        definition = {"default": False if default is None else json_value(default),
                      "rules": [{**targets, "value": value}]}
    elif default is not None:
        raise DiagnosticError([Diagnostic(message="--default goes with targeting options (--tenant, --tool, ...)",
                                          hint="without them the value is the flag's value for every call")])
    else:
        definition = {"default": value}
    if description is not None:
        definition["description"] = description
    return definition


def _reason(reason: str | None, verb: str) -> str:
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    if not reason or not reason.strip():
        raise DiagnosticError([Diagnostic(message=f"{verb} a flag needs a reason (it is recorded in the audit log)",
                                          hint="add --reason '...'")])
    return reason.strip()


@flags_app.command("set")
@guarded
def flags_set(
    name: NameArg,
    on: Annotated[bool, typer.Option("--on", help="the flag is on (true)")] = False,
    off: Annotated[bool, typer.Option("--off", help="the flag is off (false)")] = False,
    value: Annotated[str | None, typer.Option("--value", help="a JSON value (3, \"green\"; a plain word is a "
                                              "string), or a whole definition: {\"default\": ..., \"rules\": "
                                              "[...]}")] = None,
    tenant: Names = None, environment: Names = None, tool: Names = None, namespace: Names = None,
    tier: Names = None, surface: Names = None, principal: Names = None,
    default: Annotated[str | None, typer.Option("--default", help="with targeting: the value (JSON) of the calls "
                                                "it does not match (default: false)")] = None,
    description: Annotated[str | None, typer.Option(help="what the flag is for")] = None,
    reason: ReasonOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the stored flag as JSON")] = False,
    workspace: Workspace = None,
) -> None:
    """Set a flag in the state store, over the toml flag of that name: every process sharing the store uses it
    within a tenth of a second. With targeting options (--tenant acme --tier read_only ...) the value is for the
    calls they all match; the others get --default."""
    from pydantic import ValidationError

    from toolnexus.core.caller import os_user
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
    from toolnexus.governance.flag_model import TARGETS

    given = dict(zip((key for key, _ in TARGETS), (environment, tenant, tool, namespace, tier, surface, principal),
                     strict=True))
    targets = {key: names for key, names in given.items() if names}
    definition = definition_from(_one_value(on, off, value), targets, default, description)
    why = _reason(reason, "setting")
    with _stored(workspace) as (_, stored):
        try:
            row = stored.set(name, definition, by=os_user(), reason=why)
        except ValidationError as exc:
            raise DiagnosticError([_problem(name, e) for e in exc.errors()]) from None
        except ValueError as exc:
            raise DiagnosticError([Diagnostic(message=str(exc))]) from None
        served = stored.served
    _report_set(row, as_json, served)


def _problem(name: str, error: Any) -> Diagnostic:
    """A pydantic error of a flag's definition as a diagnostic naming the flag and the key (``rules.0.tenants``)."""
    from toolnexus.core.diagnostics import Diagnostic

    where = ".".join(map(str, error["loc"]))
    return Diagnostic(message=f"flag {name}: " + (f"{where}: " if where else "") + error["msg"],
                      hint="a definition is what a [flags.NAME] table holds: default, description, rules")


def _report_set(row: FlagRow, as_json: bool, served: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"name": row.name, "definition": row.value, "by": row.by, "at": _when(row.at)},
                                    indent=2) + "\n")
    else:
        err.print(f"[green]set[/] flag {esc(row.name)} in the state store: {esc(_summary(row.value))}")
    if not served:
        err.print("[yellow]note[/]: \\[flags] provider names another provider, which serves every flag: "
                  "the store's flags are not read")


@flags_app.command("unset")
@guarded
def flags_unset(name: NameArg, reason: ReasonOption = None, workspace: Workspace = None) -> None:
    """Remove a flag from the state store: the toml flag of that name (if any) applies again, everywhere."""
    from toolnexus.core.caller import os_user
    from toolnexus.core.diagnostics import Diagnostic, DiagnosticError

    why = _reason(reason, "unsetting")
    with _stored(workspace) as (nexus, stored):
        previous = stored.unset(name, by=os_user(), reason=why)
        in_toml = name in nexus.settings.flags.flags
    if previous is None:
        hint = (f"{name} is defined in toolnexus.toml ([flags.{name}]): edit it there, or override it with "
                f"`toolnexus flags set {name} ...`" if in_toml else "see `toolnexus flags list`")
        raise DiagnosticError([Diagnostic(message=f"the state store has no flag {name}", hint=hint)])
    after = "its [flags] table in toolnexus.toml applies again" if in_toml else "it is off everywhere"
    err.print(f"[green]unset[/] flag {esc(name)} in the state store: {esc(after)}")
