"""Tool browser responsiveness with 10k and 100k synthetic tools: open, search-as-you-type update,
page turn and filter change (median and p95 in ms). No peer: a widget has none to compare with.

    python benchmarks/browser_speed.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from toolnexus.core.spec import SafetyTier, ToolSpec
from toolnexus.notebook.browser import ToolBrowser
from toolnexus.registry import Registry

WORDS = ["convert", "csv", "parquet", "image", "resize", "email", "send", "report", "index", "query"]
QUERIES = ["convert csv", "resize image", "send email report", "parquet index", "query"]
TIERS = ["side_effecting", "read_only", ""]


class NoTimer:
    """The browser's debounce timer, never fired: the benchmark drives updates itself."""

    def cancel(self) -> None:
        pass


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def timed(fn: Callable[[int], object], reps: int) -> list[float]:
    out = []
    for i in range(reps):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def catalog(n: int) -> Registry:
    return Registry(
        ToolSpec(
            name=f"ns{i % 50}.tool{i}",
            summary=f"{WORDS[i % 10]} {WORDS[(i * 7) % 10]} number {i}",
            tags=[WORDS[i % 10]],
            tier=SafetyTier.READ_ONLY if i % 3 else SafetyTier.SIDE_EFFECTING,
        )
        for i in range(n)
    )


def measure(n: int) -> None:
    registry = catalog(n)
    start = time.perf_counter()
    browser = ToolBrowser(registry, scheduler=lambda _d, _cb: NoTimer(), insert=lambda _t: False)
    opened = time.perf_counter() - start
    browser.search.value = QUERIES[0]
    browser.update()  # the search index is built on the first search

    def search(i: int) -> None:
        browser.search.value = QUERIES[i % len(QUERIES)]
        browser.update()

    searches = timed(search, 50)
    browser.search.value = ""
    browser.update()
    pages = timed(lambda i: browser.go_to(i % 20), 40)
    filters = timed(lambda i: setattr(browser.tier, "value", TIERS[i % 3]), 9)
    print(f"{n:>7,} tools: open {opened * 1000:.0f} ms | search update {stats(searches)} | page turn {stats(pages)} | "
          f"filter change {stats(filters)} | rows sent per page: {len(browser.listing.options)}")
    browser.close()


if __name__ == "__main__":
    for size in (10_000, 100_000):
        measure(size)
