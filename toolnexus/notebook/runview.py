"""The live run view: one widget that follows a run as its events arrive, with Cancel and Resume.

``install(ip)`` makes every :meth:`Nexus.run <toolnexus.api.Nexus.run>` (and so ``tn.run`` and ``%%mission --run``)
in the kernel show it, returning the :class:`~toolnexus.core.run.RunResult` as before. :class:`RunView` is the
view itself: an event sink on the Nexus's bus that updates a plain model per event and renders it at most
``1 / interval`` times a second (10 by default): the first event after a quiet spell at once, the rest
coalesced by a timer, the run's end always. The step table is one HTML widget updated in place, so a 1,000-step
run is not 1,000 widgets.

Widget updates may come from the engine's thread (``Nexus.run`` runs a fresh event loop in a helper thread
when the kernel's loop is running): ipykernel sends comm messages through its IOPub thread, which takes them
from any thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio

from toolnexus.core.events import Event, RunFinished
from toolnexus.core.run import RunResult
from toolnexus.engine import RunControl
from toolnexus.notebook.runhtml import counts_html, header_html, mlflow_link, table_html
from toolnexus.notebook.runmodel import EVENT_TYPES, RunModel

if TYPE_CHECKING:
    from toolnexus.api import Nexus

RESUMABLE = frozenset({"failed", "cancelled", "interrupted"})
CANCELLED_HERE = "cancelled from the notebook"


class RunView:
    """A live view of one run of ``nexus`` (the first run it sees start once attached); ``control`` cancels it.

    Use it directly with :meth:`run`, or let :func:`install` show one for every ``Nexus.run``. ``renders``
    counts the renders (at most one per ``interval`` seconds of ``clock``, plus the run's final one).
    """

    def __init__(self, nexus: Nexus, control: RunControl | None = None, *, interval: float = 0.1,
                 max_rows: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        import ipywidgets as widgets

        self.nexus = nexus
        self.control = control if control is not None else RunControl()
        self.interval, self.max_rows, self.clock = interval, max_rows, clock
        self.model = RunModel(clock=clock)
        self.renders = 0
        self.result: RunResult | None = None
        self.failure: BaseException | None = None  # what a resume from the button raised, if anything
        self.finished = threading.Event()
        self._lock = threading.RLock()
        self._last = -float("inf")
        self._dirty = False
        self._timer: threading.Timer | None = None
        self._worker: threading.Thread | None = None
        self.header = widgets.HTML()
        self.counts = widgets.HTML()
        self.table = widgets.HTML(layout=widgets.Layout(max_height="480px", overflow="auto"))
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", button_style="danger",
                                            tooltip="cancel the run (like Ctrl-C: processes killed, run recorded)")
        self.resume_button = widgets.Button(description="Resume", icon="play", button_style="primary",
                                            tooltip="resume this run: its succeeded steps are kept",
                                            layout=widgets.Layout(display="none"))
        self.cancel_button.on_click(lambda _button: self.cancel())
        self.resume_button.on_click(lambda _button: self.resume(wait=False))
        self.widget = widgets.VBox([self.header, self.counts, self.table,
                                    widgets.HBox([self.cancel_button, self.resume_button])])
        self.widget.add_class("toolnexus-run-view")
        self.render()

    # -- the sink ---------------------------------------------------------------------------------

    event_types = EVENT_TYPES  # the bus builds no other event for it

    def __call__(self, event: Event) -> None:
        """Take one run event; render now, later (coalesced) or, at the run's end, at once."""
        with self._lock:
            if not self.model.apply(event):
                return
            if isinstance(event, RunFinished):
                self.result = event.result
                self.render()
                self.finished.set()
                return
            self._dirty = True
            wait = self.interval - (self.clock() - self._last)
            if wait <= 0:
                self.render()
            elif self._timer is None:
                self._schedule(wait)

    def _schedule(self, wait: float) -> None:
        self._timer = threading.Timer(wait, self._flush)
        self._timer.daemon = True
        self._timer.start()

    def _flush(self) -> None:
        """The timer's render of what came since the last one (later again if the clock says it is too soon)."""
        with self._lock:
            self._timer = None
            if not self._dirty:
                return
            wait = self.interval - (self.clock() - self._last)
            if wait > 0:
                self._schedule(wait)
            else:
                self.render()

    def render(self) -> None:
        """Show the model now (the throttle calls it; callable any time)."""
        with self._lock:
            self._dirty = False
            self._last = self.clock()
            self.renders += 1
            model = self.model
            self.header.value = header_html(model, mlflow_link(getattr(self.nexus, "tracker", None), model))
            self.counts.value = counts_html(model)
            self.table.value = table_html(model, self.max_rows)
            running = model.run_id is not None and not model.finished
            self.cancel_button.disabled = not running or self.control.cancelled
            self.cancel_button.description = "Cancelling…" if running and self.control.cancelled else "Cancel"
            resumable = model.finished and model.status in RESUMABLE and self._worker is None
            self.resume_button.layout.display = "" if resumable else "none"

    # -- showing a run ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def attached(self) -> Iterator[RunView]:
        """Subscribed to the Nexus's events while inside. A KeyboardInterrupt (the kernel's interrupt, a Ctrl-C)
        cancels the run through the control and waits for it to be recorded, as the CLI does."""
        unsubscribe = self.nexus.bus.subscribe(self)
        try:
            yield self
        except KeyboardInterrupt:
            self.control.cancel("interrupted")
            self.finished.wait(timeout=60)  # the run's thread kills its processes and records it
            raise
        finally:
            unsubscribe()
            if not self.model.finished:  # a finished run was rendered as it finished
                self.render()

    def run(self, mission: Any, inputs: dict[str, Any] | None = None, **kwargs: Any) -> RunResult:
        """Display the view and run ``mission`` on the Nexus with it (``kwargs`` as for ``Nexus.arun``)."""
        from toolnexus.api import run_sync

        show(self)
        with self.attached():
            return run_sync(lambda: self.nexus.arun(mission, inputs, control=self.control, **kwargs))

    def cancel(self, reason: str = CANCELLED_HERE) -> None:
        """Cancel the run exactly like Ctrl-C in the CLI: its processes are killed, it is recorded cancelled."""
        self.control.cancel(reason)
        self.render()

    def resume(self, wait: bool = True) -> RunResult | None:
        """Resume the run shown (failed or cancelled) with ``Nexus.arun(resume=run_id)``, this view following the
        new run. ``wait=False`` (the button) runs it in a thread of its own and returns None at once."""
        with self._lock:
            run_id = self.model.run_id
            if run_id is None or not self.model.finished or self.model.status not in RESUMABLE:
                raise ValueError(f"run {run_id} is not a failed or cancelled run that could be resumed")
            self.control = RunControl()
            self.model = RunModel(clock=self.clock)
            self.result, self.failure = None, None
            self.finished.clear()
            self._worker = threading.current_thread() if wait else threading.Thread(
                target=lambda: self._resume(run_id), name="toolnexus-resume", daemon=True)
            self.render()
        if wait:
            self._resume(run_id)
            return self.result
        self._worker.start()
        return None

    def _resume(self, run_id: str) -> None:
        try:
            with self.attached():
                self.result = anyio.run(lambda: self.nexus.arun("", resume=run_id, control=self.control))
        except Exception as exc:  # shown in the view (a button has no caller to raise to)
            self.failure = exc
            self.header.value += f'<div style="color:#cf222e">resume failed: {exc}</div>'
        finally:
            self._worker = None
            self.finished.set()
            self.render()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def show(view: RunView) -> None:
    """Display ``view`` in the running IPython (nothing without one)."""
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - ipywidgets depends on IPython
        return
    display(view)


def present(nexus: Nexus, kwargs: dict[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """The run presenter :func:`install` adds: a displayed :class:`RunView` attached for the run (with a
    ``control`` of its own unless the caller gave one, so its Cancel button can stop the run)."""
    control = kwargs.get("control")
    if control is None:
        control = kwargs["control"] = RunControl()
    view = RunView(nexus, control)
    show(view)
    return view.attached()


def install(ip: Any = None) -> None:
    """From now on ``Nexus.run`` (``tn.run``, ``%%mission --run``) in this kernel shows the live run view.

    ``ip`` is the IPython shell (the extension's argument); the hook is the process's, which is the kernel's.
    Installing twice installs once.
    """
    from toolnexus import api

    if present not in api.run_presenters:
        api.run_presenters.append(present)


def uninstall(ip: Any = None) -> None:
    """Stop showing the live run view for ``Nexus.run``."""
    from toolnexus import api

    while present in api.run_presenters:
        api.run_presenters.remove(present)
