"""The YAML 1.2 resolver with its rules looked up once, and the safe C-parser ``YAML`` it configures."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Yaml12Resolver(VersionedResolver):
    # The stock resolver works out the document's YAML version again for every scalar and then
    # looks its rules up afresh (a third of the parse time of a large mission); missions are YAML 1.2,
    # so the rules are fixed: looked up once, by a scalar's first character.
    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if implicit[0]:
            for tag, regexp in _rules().get(value[:1], ()):
                if regexp.match(value):
                    return Tag(suffix=tag)
        return _DEFAULT_STR


_DEFAULT_STR = _Yaml12Resolver.DEFAULT_SCALAR_TAG
"""The tag of every plain string the resolver sees (the same object each time: an identity test)."""


@lru_cache(maxsize=1)
def _rules() -> dict[str, tuple[tuple[str, Any], ...]]:
    """YAML 1.2's implicit rules by a scalar's first character ("" for the empty scalar)."""
    table = _Yaml12Resolver().versioned_resolver
    anywhere = tuple(table.get(None, ()))
    return {first: (*rules, *anywhere) for first, rules in table.items() if first is not None}


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _Yaml12Resolver
    return yaml

