"""Timing calls one by one: each call's seconds, and the collector's among them.

``collected`` adds up what the cyclic collector took inside the timed calls
(``gc.callbacks``): a new kernel's compile follows the building of its context,
whose allocations the collector meets during the compile, as it does in the agent.
``Collector`` does the same around blocks of code (an event loop's run).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, final

__all__ = ["Collector", "collected", "each", "repeat"]


def repeat(run: Callable[[], object], rounds: int) -> list[float]:
    """The seconds of each of ``rounds`` calls of ``run``."""
    return each(lambda _: run(), range(rounds))


def each(run: Callable[[Any], object], values: Iterable[Any]) -> list[float]:
    """The seconds of ``run(value)`` for each of ``values`` (taken one at a time,
    untimed: a generator may build each just before its call)."""
    times = []
    for value in values:
        started = time.perf_counter()
        run(value)
        times.append(time.perf_counter() - started)
    return times


def collected(
    run: Callable[[Any], object], values: Iterable[Any]
) -> tuple[list[float], float]:
    """``each``, and the collector's seconds inside the calls in all."""
    collector = Collector()

    def watched(value: object) -> None:
        with collector.watching():
            run(value)

    return each(watched, values), collector.seconds


@final
class Collector:
    """The cyclic collector's seconds and passes inside ``watching`` blocks
    (summed over every block of one value)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.passes = 0
        self._started = 0.0

    def _watch(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.passes += 1

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Count the collector's passes inside the block."""
        gc.callbacks.append(self._watch)
        try:
            yield
        finally:
            gc.callbacks.remove(self._watch)
