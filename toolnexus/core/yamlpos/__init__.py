"""YAML text to plain data plus a map of where every value sits, for errors that say file:line:column.

ruamel.yaml's C parser reads the events (about 10× faster than the round-trip loader, which keeps the
same positions but costs ~0.7 s per 1,000 steps). A document loaded for use goes straight from the
events to plain dicts/lists (``stream``: no node tree, a quarter of a GB less for a 100,000-step
mission); only when a diagnostic needs positions is the text composed again into nodes with their
marks (``composer``) and walked once (``build``) into a ``path → (line, column)`` map.

Hostile input is refused in bounded time and memory (:class:`YamlLimits`): both readers are
iterative (the C composer recurses once per level and overflows the C stack on deep nesting), stop at
a nesting depth, at a number of values, and count what each alias stands for, so an alias bomb
("billion laughs") or a recursive alias is refused before anything is expanded.

One concept per module: ``positions`` (Positions, Path, YamlLimits), ``resolver`` (YAML 1.2 rules),
``reading`` (load_yaml, size/encoding checks), ``stream`` (events to data), ``composer`` (events to
nodes), ``build`` (nodes to data and positions), ``syntax`` (syntax-error diagnostics), ``validation``
(pydantic errors as diagnostics).
"""

from toolnexus.core.yamlpos.positions import DEFAULT_LIMITS, MAX_DEPTH, Path, Positions, YamlLimits
from toolnexus.core.yamlpos.reading import byte_position, check_size, compose, decode, load_yaml, too_large
from toolnexus.core.yamlpos.syntax import syntax_diagnostic
from toolnexus.core.yamlpos.validation import validation_diagnostics, yaml_type

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_DEPTH",
    "Path",
    "Positions",
    "YamlLimits",
    "byte_position",
    "check_size",
    "compose",
    "decode",
    "load_yaml",
    "syntax_diagnostic",
    "too_large",
    "validation_diagnostics",
    "yaml_type",
]
