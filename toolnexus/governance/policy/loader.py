"""Loading policy files: YAML with positions, validated, compiled once into a :class:`Policy`; ``.cedar`` files
are Cedar policy sets (see :mod:`~toolnexus.governance.policy.cedar`).

Every problem of every file is reported in one pass, each with its file:line:column; a policy with any
problem is refused as a whole (a :class:`DiagnosticError`), so a half-read policy never decides a call.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolnexus.core.diagnostics import Diagnostic, DiagnosticError
from toolnexus.core.yamlpos import Positions, load_yaml, validation_diagnostics
from toolnexus.governance.policy.cedar import compile_cedar, is_cedar
from toolnexus.governance.policy.cedar_set import CedarSet
from toolnexus.governance.policy.conditions import compile_block
from toolnexus.governance.policy.model import Mode, PolicyFile, RuleModel, allowed_keys
from toolnexus.governance.policy.policy import Policy
from toolnexus.governance.policy.rule import MATCHERS, Names, Rule


def policy_files(patterns: Iterable[str], workspace: str | Path) -> list[Path]:
    """The files ``[governance] policies`` names: paths and globs relative to ``workspace``, globs in name order.

    A plain path that does not exist is kept (loading it then says so); a glob that matches nothing adds nothing.
    """
    root = Path(workspace)
    found: list[Path] = []
    for pattern in patterns:
        full = root / pattern
        if glob.has_magic(pattern):
            found.extend(sorted(Path(p) for p in glob.glob(str(full), recursive=True)))
        else:
            found.append(full)
    return list(dict.fromkeys(found))


def load_policy(files: Sequence[str | Path], default_mode: Mode | str = Mode.OBSERVE) -> Policy:
    """The policy of ``files`` (their rules in order); any problem raises a DiagnosticError listing them all."""
    texts: list[tuple[str, str]] = []
    problems: list[Diagnostic] = []
    for file in files:
        try:
            texts.append((str(file), Path(file).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(Diagnostic(message=f"cannot read policy file: {reason}", file=str(file)))
    if problems:
        raise DiagnosticError(problems)
    return compile_policy(texts, default_mode)


def compile_policy(texts: Sequence[tuple[str, str]], default_mode: Mode | str = Mode.OBSERVE) -> Policy:
    """The policy of ``texts`` (``(file name, YAML or Cedar text)`` pairs, in order; a name ending ``.cedar`` is
    Cedar); problems raise a DiagnosticError."""
    default = Mode(default_mode)
    rules: list[Rule] = []
    positions: dict[str, Positions] = {}
    problems: list[Diagnostic] = []
    seen: dict[str, Rule] = {}
    sets: list[CedarSet] = []
    for file, text in texts:
        if is_cedar(file):
            compiled = _compile_cedar(file, text, default, len(rules), sets, problems)
        else:
            compiled, positions[file] = _compile_file(file, text, default, len(rules), problems)
        for rule in compiled:
            _check_unique(rule, seen, problems)
            rules.append(rule)
    if problems:
        raise DiagnosticError(problems)
    return Policy(rules, version=policy_version(texts, default), files=[f for f, _ in texts], positions=positions,
                  sources=dict(texts),
                  cedar=sets)


def _compile_cedar(file: str, text: str, default: Mode, start: int, sets: list[CedarSet],
                   problems: list[Diagnostic]) -> Sequence[Rule]:
    """The rules of the Cedar file ``file`` (its set added to ``sets``): a Cedar file is a rule group."""
    compiled = compile_cedar(file, text, default, start, problems)
    if compiled is None:
        return ()
    sets.append(compiled)
    return compiled.rules


def policy_version(texts: Sequence[tuple[str, str]], default_mode: Mode) -> str:
    """The digest of a policy: its default mode and each file's name and content (grants are bound to it)."""
    digest = hashlib.sha256(f"mode={default_mode.value}\n".encode())
    for file, text in texts:
        digest.update(f"{len(file)}:{file}{len(text)}:".encode())
        digest.update(text.encode("utf-8", "surrogatepass"))
    return "sha256:" + digest.hexdigest()


def _check_unique(rule: Rule, seen: dict[str, Rule], problems: list[Diagnostic]) -> None:
    first = seen.setdefault(rule.id, rule)
    if first is not rule:
        problems.append(Diagnostic(message=f"duplicate rule id {rule.id!r}", file=rule.file, line=rule.line,
                                   column=rule.column, hint=f"it is already the id of the rule at {first.where()}"))


def _compile_file(file: str, text: str, default: Mode, start: int,
                  problems: list[Diagnostic]) -> tuple[list[Rule], Positions]:
    data, positions = load_yaml(text, file, problems)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(positions.diagnostic((), "a policy file is a mapping with a `rules:` list",
                                             "start it with `rules:`"))
        return [], positions
    try:
        model = PolicyFile.model_validate(data)
    except ValidationError as exc:
        problems.extend(validation_diagnostics(exc, positions, known_fields=allowed_keys))
        # Still compile the rules that are valid, so their condition problems are reported in the same pass.
        _compile_valid_rules(data, default, file, positions, problems)
        return [], positions
    mode = model.mode or default
    rules = [_compile_rule(item, mode, start + i, ("rules", i), file, positions, problems)
             for i, item in enumerate(model.rules)]
    return rules, positions


def _compile_valid_rules(data: dict[str, Any], mode: Mode, file: str, positions: Positions,
                         problems: list[Diagnostic]) -> None:
    """Compile each rule of an invalid file that validates on its own, for the problems of its conditions."""
    raw = data.get("rules")
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            rule = RuleModel.model_validate(item)
        except ValidationError:
            continue  # reported with the file's errors
        _compile_rule(rule, mode, i, ("rules", i), file, positions, problems)


def _compile_rule(item: RuleModel, mode: Mode, order: int, where: tuple[str | int, ...], file: str,
                  positions: Positions, problems: list[Diagnostic]) -> Rule:
    line, column = positions.at(where)
    matchers = tuple((key, fact, Names.of(getattr(item, key))) for key, fact in MATCHERS
                     if getattr(item, key) is not None)
    return Rule(
        id=item.id, effect=item.effect, mode=item.mode or mode, order=order, reason=item.reason,
        matchers=matchers, tags=frozenset(item.tags) if item.tags is not None else None,
        when=_block(item.when, (*where, "when"), positions, problems),
        unless=_block(item.unless, (*where, "unless"), positions, problems),
        approvers=tuple(item.approvers) if item.approvers is not None else None, four_eyes=item.four_eyes,
        channels=tuple(item.channels) if item.channels is not None else None, timeout=item.timeout,
        flag=item.flag, file=file, line=line, column=column,
    )


def _block(block: dict[str, Any] | None, where: tuple[str | int, ...], positions: Positions,
           problems: list[Diagnostic]) -> tuple[Any, ...]:
    return compile_block(block, where, positions, problems) if block else ()
