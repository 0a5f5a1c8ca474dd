"""toolnexus: run tools as declarative YAML missions, native to Jupyter.

The public API::

    import toolnexus as tn

    @tn.tool
    def greet(name: str) -> str:
        "Say hello."
        return f"hello {name}"

    plan = tn.compile("missions/hello.yaml")
    result = tn.run(plan, {"name": "ada"})
    tn.call("files.read", path="README.md").output

Names are imported on first use (PEP 562), so ``import toolnexus`` stays cheap for worker processes
and short CLI commands.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from toolnexus._deferred import defer_slow_imports, lazy_package
from toolnexus._version import __version__ as __version__

defer_slow_imports()

__all__, __getattr__, __dir__ = lazy_package(__name__, __file__, "__version__")


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext toolnexus``: the magics (``%%mission``, ``%mission``, ``%tn``), rich display and the live run
    view in IPython shell ``ip`` (see :mod:`toolnexus.notebook.ipython`). Not part of the public API list."""
    importlib.import_module("toolnexus.notebook.ipython").load_ipython_extension(ip)


def unload_ipython_extension(ip: Any) -> None:
    """``%unload_ext toolnexus``: remove the magics again."""
    importlib.import_module("toolnexus.notebook.ipython").unload_ipython_extension(ip)


def _display_in_kernel() -> None:
    """Inside a running IPython shell (a notebook kernel), register the rich display of toolnexus objects at
    import, so ``tn.compile(...)`` shows its graph without ``%load_ext``. Costs a dict lookup elsewhere: IPython is
    never imported here, only found already loaded."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None:
        importlib.import_module("toolnexus.notebook.ipython").register_display(shell)


_display_in_kernel()


# The public API, imported lazily at run time (PEP 562) so that ``import toolnexus`` stays cheap for
# worker processes and short CLI commands. Add a public name here, and only here (``X as X`` marks
# an explicit re-export for type checkers).
if TYPE_CHECKING:
    from toolnexus.api import (
        Nexus as Nexus,
        acall as acall,
        approvals as approvals,
        arun as arun,
        call as call,
        compare_runs as compare_runs,
        compile as compile,
        default_nexus as default_nexus,
        kills as kills,
        run as run,
    )
    from toolnexus.config import (
        Settings as Settings,
        load_settings as load_settings,
    )
    from toolnexus.core import (
        CostModel as CostModel,
        Diagnostic as Diagnostic,
        DiagnosticError as DiagnosticError,
        ErrorKind as ErrorKind,
        Lifecycle as Lifecycle,
        Limits as Limits,
        RunResult as RunResult,
        RunStatus as RunStatus,
        SafetyTier as SafetyTier,
        StepRecord as StepRecord,
        StepStatus as StepStatus,
        ToolCall as ToolCall,
        ToolContext as ToolContext,
        ToolEntry as ToolEntry,
        ToolError as ToolError,
        ToolFailure as ToolFailure,
        ToolResult as ToolResult,
        ToolSpec as ToolSpec,
        current_context as current_context,
    )
    from toolnexus.core.content import (
        Audio as Audio,
        Content as Content,
        EmbeddedResource as EmbeddedResource,
        Image as Image,
        Text as Text,
    )
    from toolnexus.core.context import (
        can_ask as can_ask,
        elicit as elicit,
        list_roots as list_roots,
        report_progress as report_progress,
        sample as sample,
    )
    from toolnexus.engine import (
        Engine as Engine,
        Invoker as Invoker,
        RunControl as RunControl,
    )
    from toolnexus.errors import (
        InvalidInput as InvalidInput,
        NotFound as NotFound,
        SandboxError as SandboxError,
        ToolCallFailed as ToolCallFailed,
        ToolnexusError as ToolnexusError,
        Unavailable as Unavailable,
    )
    from toolnexus.mcp_server.library import (
        prompt as prompt,
        resource as resource,
    )
    from toolnexus.mission import (
        LoadedMission as LoadedMission,
        Mission as Mission,
        Plan as Plan,
        load_mission as load_mission,
    )
    from toolnexus.notebook.browser import (
        browse as browse,
    )
    from toolnexus.notebook.review import (
        review as review,
    )
    from toolnexus.notebook.runs import (
        compare as compare,
        runs as runs,
    )
    from toolnexus.notebook.runview import (
        RunView as RunView,
    )
    from toolnexus.notebook.serve import (
        serve as serve,
    )
    from toolnexus.registry import (
        Registry as Registry,
        tool as tool,
    )
    from toolnexus.registry.search import (
        SearchHit as SearchHit,
    )
    from toolnexus.registry.toolsets import (
        Toolset as Toolset,
    )
