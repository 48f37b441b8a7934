"""Timing calls one by one: each call's seconds, and the collector's among them.

``collected`` adds up what the cyclic collector took inside the timed calls
(``gc.callbacks``): a new kernel's compile follows the building of its context,
whose allocations the collector meets during the compile, as it does in the agent.
``Collector`` does the same around a block of code (an event loop's run).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from types import TracebackType
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
    inside = [False, 0.0, 0.0]  # in a call; a collection's start; the sum

    def watch(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            inside[1] = time.perf_counter() if inside[0] else 0.0
        elif inside[1]:
            inside[2] += time.perf_counter() - inside[1]

    def watched(value: object) -> None:
        inside[0] = True
        try:
            run(value)
        finally:
            inside[0] = False

    gc.callbacks.append(watch)
    try:
        return each(watched, values), inside[2]
    finally:
        gc.callbacks.remove(watch)


@final
class Collector:
    """The cyclic collector's seconds and passes inside ``with`` blocks (summed
    over every block the same value was used for)."""

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

    def __enter__(self) -> Collector:
        gc.callbacks.append(self._watch)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        gc.callbacks.remove(self._watch)
