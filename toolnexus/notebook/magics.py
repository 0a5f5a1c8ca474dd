"""The toolnexus magics: ``%%mission`` (a cell holding a mission's YAML), ``%mission PATH`` and ``%tn``.

Loaded by ``%load_ext toolnexus`` (see :mod:`toolnexus.notebook.ipython`). Each magic works through the default
:class:`~toolnexus.api.Nexus` of the kernel's current directory, the one ``tn.run``, ``tn.call`` and ``@tn.tool``
use: a tool defined in one cell is usable by the next ``%%mission`` cell.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.display import display

from toolnexus.notebook.magics_mission import mission_cell, mission_file
from toolnexus.notebook.magics_tn import tn_command


@magics_class
class ToolnexusMagics(Magics):
    """``%%mission`` / ``%mission`` and ``%tn``: missions and tools from notebook cells."""

    @line_cell_magic
    def mission(self, line: str, cell: str | None = None) -> Any:
        """Validate, show, save and run a mission.

        As a cell magic, the cell is the mission's YAML::

            %%mission [--run] [-i name=value …] [--as NAME] [--save PATH [--force]]

        It is validated exactly as ``toolnexus validate`` validates a file, every problem shown at the cell's
        line and column (the ``%%mission`` line is line 1). Without ``--run`` the Plan is shown, returned and,
        with ``--as NAME``, bound to ``NAME``. With ``--run`` the plan is shown, the mission runs (with the live
        view where installed) and the RunResult is returned and bound to ``NAME``, the plan to ``NAME_plan``.
        ``-i name=value`` gives an input as text, typed by its declared type as on the command line (IPython
        expands ``$var`` and ``{expr}`` in the line first); ``-i name`` passes the notebook variable ``name`` as
        it is. ``--save PATH`` writes the valid YAML to ``missions/PATH`` (to PATH itself when it names a folder;
        ``.yaml`` added without a suffix), refusing to replace a different file unless ``--force``.

        As a line magic, ``%mission PATH [-i …] [--as NAME]`` runs a mission file (PATH as written, else under
        ``missions/``). On any problem the magic shows it and returns None.
        """
        namespace = self.shell.user_ns if self.shell is not None else {}
        if cell is None:
            return mission_file(line, namespace, display)
        return mission_cell(line, cell, namespace, display)

    @line_magic
    def tn(self, line: str) -> Any:
        """The CLI's everyday commands, with rich output.

        ``%tn tools search QUERY [-k N]`` ranks tools (score, matched terms); ``%tn tools show TOOL`` shows a
        tool's card; ``%tn call TOOL key=value …`` calls a tool (values as JSON, else Python literals, else
        text) and returns its ToolResult; ``%tn runs [N]`` lists recent runs; ``%tn approvals`` the calls waiting
        for approval.
        """
        return tn_command(line, display)
