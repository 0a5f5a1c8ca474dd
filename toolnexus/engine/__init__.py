"""Layer 3: the engine — scheduling, cancellation, timeouts, retries, caching, budgets, events."""

from toolnexus.core.validation import argument_problems
from toolnexus.engine.cache import cache_key
from toolnexus.engine.control import RunControl
from toolnexus.engine.engine import Engine
from toolnexus.engine.invoke import EventBus, Invoker

__all__ = ["Engine", "EventBus", "Invoker", "RunControl", "argument_problems", "cache_key"]
