"""The public API: listed once (the ``TYPE_CHECKING`` imports of ``toolnexus/__init__.py``), pinned here.

A change to what ``import toolnexus`` offers must change this file too, deliberately.
"""

from __future__ import annotations

import inspect

import toolnexus

PUBLIC_API = {
    # the Python API
    "Nexus", "acall", "approvals", "arun", "call", "compare_runs", "compile", "default_nexus", "kills", "run",
    "Settings", "load_settings",
    # core shapes
    "CostModel", "Diagnostic", "DiagnosticError", "ErrorKind", "Lifecycle", "Limits", "RunResult", "RunStatus",
    "SafetyTier", "StepRecord", "StepStatus", "ToolCall", "ToolContext", "ToolEntry", "ToolError", "ToolFailure",
    "ToolResult", "ToolSpec", "current_context",
    # the one exception hierarchy
    "ToolnexusError", "InvalidInput", "NotFound", "Unavailable", "SandboxError", "ToolCallFailed",
    # engine, missions, registry
    "Engine", "Invoker", "RunControl", "LoadedMission", "Mission", "Plan", "load_mission", "Registry", "tool",
    "SearchHit", "Toolset",
    # what a tool can do during its call
    "report_progress", "sample", "elicit", "list_roots", "can_ask", "Image", "Audio", "Text", "EmbeddedResource",
    "Content",
    # MCP resources and prompts; notebooks
    "resource", "prompt", "browse", "review", "runs", "compare", "serve", "RunView",
}


def test_the_public_api_is_exactly_the_pinned_list() -> None:
    assert set(toolnexus.__all__) == PUBLIC_API | {"__version__"}
    assert toolnexus.__all__ == sorted(toolnexus.__all__)
    assert dir(toolnexus) == toolnexus.__all__


def test_every_public_name_resolves_to_a_toolnexus_object() -> None:
    for name in PUBLIC_API:
        value = getattr(toolnexus, name)
        assert getattr(value, "__module__", "").startswith("toolnexus."), name


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        toolnexus.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("toolnexus.no_such_name resolved")


def _public_methods(cls: type) -> list[str]:
    # pydantic's hooks (`model_post_init`) are pydantic's API, documented there.
    own = [(name, value) for name, value in vars(cls).items()
           if not name.startswith("_") and name != "model_post_init"]
    return [name for name, value in own if inspect.isfunction(value) or isinstance(value, property | classmethod
                                                                                    | staticmethod)]


def test_every_public_class_function_and_method_says_what_it_is_for() -> None:
    missing = []
    for name in sorted(PUBLIC_API):
        value = getattr(toolnexus, name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if not inspect.getdoc(value):
            missing.append(name)
        if inspect.isclass(value) and not issubclass(value, BaseException):
            for method in _public_methods(value):
                attribute = vars(value)[method]
                target = attribute.fget if isinstance(attribute, property) else getattr(attribute, "__func__",
                                                                                        attribute)
                if not (target.__doc__ or "").strip():
                    missing.append(f"{name}.{method}")
    assert missing == []
