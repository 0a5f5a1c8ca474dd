"""Layer 2: the embedded state database (runs, steps, cache, calls)."""

from toolnexus.store.sqlite import StateStore, StoredRun

__all__ = ["StateStore", "StoredRun"]
