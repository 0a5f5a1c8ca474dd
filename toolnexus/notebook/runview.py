"""The live run view: one widget that follows a run as its events arrive, with Cancel and Resume.

``install(ip)`` makes every :meth:`Nexus.run <toolnexus.api.Nexus.run>` (and so ``tn.run`` and ``%%mission --run``)
in the kernel show it, returning the :class:`~toolnexus.core.run.RunResult` as before. :class:`RunView` is the
view itself: an event sink on the Nexus's bus that queues each event (applied to a plain model,
:mod:`~toolnexus.core.progress` — the one the CLI's display renders too — every 16 events, so few are kept
alive) and renders at most ``1 / interval`` times a second (10 by default): on the engine's thread when an
event finds the last render ``interval`` old, by the shared ticker thread (:mod:`~toolnexus.notebook.ticker`)
every ``interval`` while the run goes (when something changed, else every ``QUIET`` seconds: a long step's
time goes on), and always at the run's end. Which steps are running and which were recorded it learns at
each render from its live :class:`~toolnexus.engine.RunControl`, not from a ``StepStarted`` and a
``StepFinished`` event per step: those events, built and taken for every step, were most of what the view cost
a fast run; the events it does take are the run's own and the rare ones (retries, approvals). The step table
is one HTML widget updated in place, so a 1,000-step run is not 1,000 widgets.

Widget updates may come from the engine's thread (``Nexus.run`` runs a fresh event loop in a helper thread
when the kernel's loop is running): ipykernel sends comm messages through its IOPub thread, which takes them
from any thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from html import escape
from typing import TYPE_CHECKING, Any

import anyio

from toolnexus.core.events import Event, RunFinished
from toolnexus.core.progress import LIVE_EVENT_TYPES, RunModel
from toolnexus.core.run import RunResult
from toolnexus.engine import RunControl
from toolnexus.notebook.runhtml import mlflow_link, view_html
from toolnexus.notebook.runview_kernel import acted_on_arrival
from toolnexus.notebook.ticker import ticker

if TYPE_CHECKING:
    from toolnexus.api import Nexus

LINK_TRIES, LINK_WAIT = 40, 0.5  # how long a finished run's view looks for its MLflow run: 20 s
APPLY_EVERY = 16  # queued events applied to the model at least this often, between renders
QUIET = 0.5  # seconds between the ticker's renders while nothing changes (a long step: its time goes on)
RESUMABLE = frozenset({"failed", "cancelled", "interrupted"})
CANCELLED_HERE = "cancelled from the notebook"


class RunView:
    """A live view of one run of ``nexus`` (the first run it sees start once attached); ``control`` cancels it.

    Use it directly with :meth:`run`, or let :func:`install` show one for every ``Nexus.run``. ``renders``
    counts the renders (at most one per ``interval`` seconds of ``clock``, plus the run's final one). The
    view makes its control ``live`` (the engine keeps the run's running steps for it to look at).
    """

    def __init__(self, nexus: Nexus, control: RunControl | None = None, *, interval: float = 0.1,
                 max_rows: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        import ipywidgets as widgets

        self.nexus = nexus
        self.control = control if control is not None else RunControl(live=True)
        self.control.live = True  # (before its run starts: a control the caller gave is made live too)
        self.interval, self.max_rows, self.clock = interval, max_rows, clock
        self.model = RunModel(clock=clock)
        self.renders = 0
        self.result: RunResult | None = None
        self.failure: BaseException | None = None  # what a resume from the button raised, if anything
        self.finished = threading.Event()
        self._lock = threading.RLock()
        self._pending: deque[Event] = deque()  # events not yet applied to the model
        self._scheduled = False  # a timer will render
        self._note = ""  # what the view has to say besides the run (a resume that failed)
        self._worker: threading.Thread | None = None
        self._link_tries = 0
        self._recorded = 0  # the run's recorded steps taken so far from the control
        self._attached = False  # subscribed to the Nexus's events (the ticker looks again only while so)
        # Few widgets, made as late as they can be (a view per run: each costs time as the run starts): one
        # HTML for header, counts and steps, one update per render; Cancel once a render finds the run going
        # (a run over before its first render never needed one), Resume once it failed or was cancelled.
        self._layout = widgets.Layout()
        self.html = widgets.HTML(value='<div class="toolnexus-run">waiting for the run to start…</div>',
                                 layout=self._layout)
        self._cancel_button: Any = None
        self._resume_button: Any = None
        self.widget = widgets.VBox([self.html], layout=self._layout)
        self.widget.add_class("toolnexus-run-view")
        self._last = clock()  # the first render an interval from now: a short run renders once, as it ends

    @property
    def cancel_button(self) -> Any:
        """The Cancel button (made on first need; shown while the run goes)."""
        if self._cancel_button is None:
            import ipywidgets as widgets

            self._cancel_button = widgets.Button(
                description="Cancel", icon="stop", button_style="danger", layout=self._layout,
                tooltip="cancel the run (like Ctrl-C: processes killed, run recorded)")
            self._cancel_button.on_click(lambda _button: self.cancel())
            acted_on_arrival(self._cancel_button, self.cancel)
        return self._cancel_button

    @property
    def resume_button(self) -> Any:
        """The Resume button (made on first need; shown once the run failed or was cancelled)."""
        if self._resume_button is None:
            import ipywidgets as widgets

            self._resume_button = widgets.Button(description="Resume", icon="play", button_style="primary",
                                                 tooltip="resume this run: its succeeded steps are kept",
                                                 layout=widgets.Layout(display="none"))
            self._resume_button.on_click(lambda _button: self.resume(wait=False))
        return self._resume_button

    # -- the sink ---------------------------------------------------------------------------------

    event_types = LIVE_EVENT_TYPES  # the bus builds no other event for it (none per step: see _take)

    def __call__(self, event: Event) -> None:
        """Take one run event: queued for the next render (applied to the model every ``APPLY_EVERY`` events);
        rendered at once if the last render is ``interval`` old (on the engine's thread: no hand-over of the
        GIL to another thread mid-run), else by the ticker if no event comes to do it; the run's end at once."""
        pending = self._pending
        pending.append(event)  # atomic: no lock on the engine's path
        if type(event) is RunFinished:
            self.render()
            if self.model.finished:
                self.finished.set()
        elif self.clock() - self._last >= self.interval:
            self._render_due()
        else:
            if len(pending) >= APPLY_EVERY:  # events kept alive until a render would cost the GC more
                with self._lock:
                    self._drain()
            if not self._scheduled:
                self._arm()

    def _render_due(self) -> None:
        with self._lock:
            if self.clock() - self._last >= self.interval:  # not rendered by another thread meanwhile
                self.render()

    def _arm(self) -> None:
        """A timer for the events that no later event renders (the run goes quiet: a long step, a wait).
        It fires half an interval after a render would be due, so while events flow they render first."""
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
            self._schedule(max(0.0, self.interval - (self.clock() - self._last)) + self.interval / 2)

    def _schedule(self, wait: float) -> None:
        ticker.call_later(wait, self._flush)

    def _flush(self) -> None:
        """The timer's render of what came since the last one (later again if the clock says it is too soon)."""
        with self._lock:
            self._scheduled = False  # first: an event queued from now on asks for a render of its own
            changed = self._take()
            model = self.model
            if model.finished:
                return  # (its last event rendered it)
            since = self.clock() - self._last
            if (changed and since >= self.interval) or since >= QUIET:
                self.render()
            if model.run_id is not None and self._attached:  # it goes on: look again in an interval
                self._scheduled = True
                self._schedule(self.interval)

    def _drain(self) -> bool:
        """Apply the queued events to the model (under the lock); whether any changed it."""
        popleft, apply = self._pending.popleft, self.model.apply
        changed = False
        for _ in range(len(self._pending)):  # what is queued meanwhile waits for the next render
            event = popleft()
            if apply(event):
                changed = True
                if type(event) is RunFinished:
                    self.result = self.model.result
        return changed

    def _take(self) -> bool:
        """Apply the queued events, then what the live control says of the run's steps (under the lock);
        whether anything changed. The control's two looks are taken running first, recorded second, so a
        step that finishes between them is seen finished."""
        changed = self._drain()
        model = self.model
        if model.run_id is None or model.finished:
            return changed
        control = self.control
        running = control.running()
        recorded = control.recorded(self._recorded)
        self._recorded += len(recorded)
        return model.follow(running, recorded) or changed

    def render(self) -> None:
        """Show the run as its events so far tell (the throttle calls it; callable any time)."""
        with self._lock:
            self._take()
            model = self.model
            self._last = self.clock()
            self.renders += 1
            tracker = getattr(self.nexus, "tracker", None)
            link = mlflow_link(tracker, model)
            self.html.value = view_html(model, link, self.max_rows) + self._note
            if link is None and tracker is not None and model.finished and self._link_tries < LINK_TRIES:
                # The tracker writes a run to MLflow once it has ended, on its own thread: look again soon.
                self._link_tries += 1
                ticker.call_later(LINK_WAIT, self.render)
            self._buttons(model)

    def _buttons(self, model: RunModel) -> None:
        """Cancel while the run goes; then Resume if it can be resumed."""
        running = model.run_id is not None and not model.finished
        children: tuple[Any, ...] = (self.html,)
        if running:
            cancel = self.cancel_button
            cancel.disabled = self.control.cancelled
            cancel.description = "Cancelling…" if self.control.cancelled else "Cancel"
            children = (self.html, cancel)
        elif self._cancel_button is not None:
            self._cancel_button.disabled = True
        resumable = model.finished and model.status in RESUMABLE and self._worker is None
        if resumable:
            self.resume_button.layout.display = ""
            children = (self.html, self.resume_button)
        elif self._resume_button is not None:
            self._resume_button.layout.display = "none"
        if self.widget.children != children:
            self.widget.children = children

    # -- showing a run ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def attached(self) -> Iterator[RunView]:
        """Subscribed to the Nexus's events while inside. A KeyboardInterrupt (the kernel's interrupt, a Ctrl-C)
        cancels the run through the control and waits for it to be recorded, as the CLI does."""
        unsubscribe = self.nexus.bus.subscribe(self)
        self._attached = True
        try:
            yield self
        except KeyboardInterrupt:
            self.control.cancel("interrupted")
            if self.model.run_id is not None or self._pending:  # a run started: wait for it to be recorded
                self.finished.wait(timeout=60)  # (its thread kills its processes, then records it)
            raise
        finally:
            unsubscribe()
            self._attached = False  # (a run that never told its end: the ticker stops looking at it)
            if not self.model.finished:  # a finished run was rendered as it finished
                self.render()
            if self.model.run_id is None and not self._pending:  # no run started (a mission's errors): no view
                self.widget.layout.display = "none"

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
            self.control = RunControl(live=True)
            self._pending.clear()
            self._link_tries = self._recorded = 0
            self.model = RunModel(clock=self.clock)
            self.result, self.failure, self._note = None, None, ""
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
            self._note = f'<div style="color:#cf222e">resume failed: {escape(str(exc))}</div>'
        finally:
            self._worker = None
            self.finished.set()
            self.render()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


# The hook Nexus.run consults, and showing a view: re-exported here, where the extension finds them.
from toolnexus.notebook.runview_install import install, present, show, uninstall  # noqa: E402

__all__ = ["CANCELLED_HERE", "RunView", "install", "present", "show", "uninstall"]
