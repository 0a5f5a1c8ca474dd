"""MCP resources, resource templates and prompts: what a toolnexus server offers besides tools.

Authors declare them next to their tools, and the server loads them from the same modules
(``ToolnexusExtension.tool_modules``, :meth:`Library.load`)::

    from toolnexus.mcp_server.library import prompt, resource

    @resource("sales://regions", mime_type="application/json", description="The sales regions")
    def regions() -> list[str]:
        return ["north", "south"]

    @resource("sales://regions/{region}/summary", mime_type="text/markdown",
              complete={"region": lambda prefix: [r for r in ("north", "south") if r.startswith(prefix)]})
    def summary(region: str) -> str:
        return f"# {region}\\n..."

    @prompt(description="Ask for a quarterly review of a region")
    def review(region: str, quarter: str = "Q3") -> str:
        return f"Review the {quarter} sales of {region}."

A resource function returns text (``str``), bytes (served as a base64 blob) or JSON data (served as
``application/json`` text); a URI with ``{name}`` parts is a template whose parts are the function's
arguments. A prompt function returns a ``str`` (one user message) or a list of messages, each a ``str``,
a content block of :mod:`toolnexus.core.content`, or a ``(role, str | block)`` pair. ``complete`` maps an
argument to a function from a prefix to suggestions (``completion/complete``).
"""

from __future__ import annotations

import base64
import inspect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import mcp_types as types

from toolnexus.core.content import Audio as AudioBlock, Block, EmbeddedResource, Image, Text

Completer = Callable[[str], Iterable[str]]
RESOURCE_ATTR = "__toolnexus_mcp_resource__"
PROMPT_ATTR = "__toolnexus_mcp_prompt__"
_PART = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _doc(fn: Callable[..., Any]) -> str:
    return (inspect.getdoc(fn) or "").strip().split("\n\n")[0]


@dataclass(frozen=True)
class ResourceDef:
    """A resource (fixed URI) or a resource template (URI with ``{name}`` parts) and the function serving it."""

    uri: str
    fn: Callable[..., Any]
    name: str
    description: str
    mime_type: str | None = None
    complete: dict[str, Completer] = field(default_factory=dict)

    @property
    def is_template(self) -> bool:
        """Whether the URI has ``{name}`` parts."""
        return bool(_PART.search(self.uri))

    @property
    def pattern(self) -> re.Pattern[str]:
        """The regular expression matching the URIs this template serves."""
        regex = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part)
                        for i, part in enumerate(_PART.split(self.uri)))
        return re.compile(f"^{regex}$")

    def match(self, uri: str) -> dict[str, str] | None:
        """The values of the template's parts in ``uri``, or None if it does not match."""
        if not self.is_template:
            return {} if uri == self.uri else None
        found = self.pattern.match(uri)
        return found.groupdict() if found else None

    def read(self, uri: str, values: dict[str, str]) -> list[types.TextResourceContents | types.BlobResourceContents]:
        """Run the function for ``uri`` and return its value as resource contents."""
        return resource_contents(uri, self.fn(**values), self.mime_type)


@dataclass(frozen=True)
class PromptDef:
    """A prompt template and the function rendering it."""

    name: str
    fn: Callable[..., Any]
    description: str
    complete: dict[str, Completer] = field(default_factory=dict)

    def arguments(self) -> list[types.PromptArgument]:
        """The prompt's arguments: the function's parameters."""
        params = inspect.signature(self.fn).parameters.values()
        return [types.PromptArgument(name=p.name, required=p.default is inspect.Parameter.empty) for p in params
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def definition(self) -> types.Prompt:
        """The MCP ``Prompt`` of ``prompts/list``."""
        return types.Prompt(name=self.name, description=self.description, arguments=self.arguments() or None)


def resource(uri: str, *, name: str | None = None, description: str | None = None, mime_type: str | None = None,
             complete: dict[str, Completer] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare ``fn`` as the MCP resource (or template, if ``uri`` has ``{name}`` parts) at ``uri``."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, RESOURCE_ATTR, ResourceDef(uri, fn, name or fn.__name__, description or _doc(fn) or uri,
                                               mime_type, dict(complete or {})))
        return fn

    return mark


def prompt(name: str | None = None, *, description: str | None = None,
           complete: dict[str, Completer] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare ``fn`` as an MCP prompt (its parameters are the prompt's arguments)."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, PROMPT_ATTR, PromptDef(name or fn.__name__, fn, description or _doc(fn) or fn.__name__,
                                           dict(complete or {})))
        return fn

    return mark


# -- what a function returns, as MCP ----------------------------------------------------------------


def resource_contents(uri: str, value: Any, mime_type: str | None
                      ) -> list[types.TextResourceContents | types.BlobResourceContents]:
    """A resource function's return value as the contents of ``resources/read``."""
    if isinstance(value, bytes | bytearray):
        return [types.BlobResourceContents(uri=uri, mime_type=mime_type or "application/octet-stream",
                                           blob=base64.b64encode(bytes(value)).decode("ascii"))]
    if isinstance(value, str):
        return [types.TextResourceContents(uri=uri, mime_type=mime_type or "text/plain", text=value)]
    return [types.TextResourceContents(uri=uri, mime_type=mime_type or "application/json",
                                       text=json.dumps(value, default=str, ensure_ascii=False))]


def block_content(block: Block | str) -> types.ContentBlock:
    """One content block (toolnexus.core.content, or a str) as an MCP content block."""
    if isinstance(block, str):
        return types.TextContent(type="text", text=block)
    if isinstance(block, Text):
        return types.TextContent(type="text", text=block.text)
    if isinstance(block, Image):
        return types.ImageContent(type="image", data=block.data, mime_type=block.mime_type)
    if isinstance(block, AudioBlock):
        return types.AudioContent(type="audio", data=block.data, mime_type=block.mime_type)
    if isinstance(block, EmbeddedResource):
        contents: types.TextResourceContents | types.BlobResourceContents
        if block.text is not None:
            contents = types.TextResourceContents(uri=block.uri, mime_type=block.mime_type, text=block.text)
        else:
            contents = types.BlobResourceContents(uri=block.uri, mime_type=block.mime_type, blob=block.blob or "")
        return types.EmbeddedResource(type="resource", resource=contents)
    raise TypeError(f"not a content block: {type(block).__name__}")


def prompt_messages(value: Any) -> list[types.PromptMessage]:
    """A prompt function's return value as prompt messages."""
    items = value if isinstance(value, list | tuple) and not _is_pair(value) else [value]
    messages = []
    for item in items:
        role, content = item if _is_pair(item) else ("user", item)
        messages.append(types.PromptMessage(role=role, content=block_content(content)))
    return messages


def _is_pair(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and item[0] in ("user", "assistant")


# -- one server's resources and prompts --------------------------------------------------------------


class Library:
    """The resources, templates and prompts one server offers (see the module docstring)."""

    def __init__(self) -> None:
        self.resources: dict[str, ResourceDef] = {}
        self.prompts: dict[str, PromptDef] = {}

    def add_resource(self, definition: ResourceDef) -> None:
        """Serve ``definition`` (replacing one at the same URI)."""
        self.resources[definition.uri] = definition

    def add_prompt(self, definition: PromptDef) -> None:
        """Serve ``definition`` (replacing one of the same name)."""
        self.prompts[definition.name] = definition

    def load(self, module: str | ModuleType) -> int:
        """Add the ``@resource`` and ``@prompt`` functions of a module; how many it had."""
        import importlib

        mod = importlib.import_module(module) if isinstance(module, str) else module
        found = 0
        for value in vars(mod).values():
            if isinstance(getattr(value, RESOURCE_ATTR, None), ResourceDef):
                self.add_resource(getattr(value, RESOURCE_ATTR))
                found += 1
            if isinstance(getattr(value, PROMPT_ATTR, None), PromptDef):
                self.add_prompt(getattr(value, PROMPT_ATTR))
                found += 1
        return found

    def fixed(self) -> list[ResourceDef]:
        """The resources at fixed URIs, by URI."""
        return sorted((r for r in self.resources.values() if not r.is_template), key=lambda r: r.uri)

    def templates(self) -> list[ResourceDef]:
        """The resource templates, by URI template."""
        return sorted((r for r in self.resources.values() if r.is_template), key=lambda r: r.uri)

    def find(self, uri: str) -> tuple[ResourceDef, dict[str, str]] | None:
        """The resource serving ``uri`` and the values of its template parts (fixed URIs first)."""
        exact = self.resources.get(uri)
        if exact is not None and not exact.is_template:
            return exact, {}
        for definition in self.templates():
            values = definition.match(uri)
            if values is not None:
                return definition, values
        return None


def complete(completers: dict[str, Completer], argument: str, prefix: str, limit: int = 100) -> types.Completion:
    """Suggestions for ``argument`` starting with ``prefix`` (none when nothing completes it)."""
    completer = completers.get(argument)
    values = sorted(set(completer(prefix))) if completer is not None else []
    return types.Completion(values=values[:limit], total=len(values), has_more=len(values) > limit)
