"""When each step of one apply started: the hook ``kplan apply`` and the library
chain to the caller's, for the metrics of a failed or stopped apply.

Its own module, without Prometheus: every apply keeps the clock, only ``--metrics``
needs the registry (``kplan._metrics``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import final

from effects import Step

__all__ = ["ApplyClock", "StepHook"]

StepHook = Callable[[int, Step], None]


@final
class ApplyClock:
    """An ``on_step`` hook noting when each step of one apply starts."""

    def __init__(self, then: StepHook | None) -> None:
        self._then = then
        self._starts: dict[int, float] = {}

    def __call__(self, index: int, step: Step) -> None:
        """Note step ``index``'s start, then call the caller's hook."""
        self._starts[index] = time.perf_counter()
        if self._then is not None:
            self._then(index, step)

    @property
    def last(self) -> int:
        """The index of the latest step that started (-1: none)."""
        return max(self._starts, default=-1)

    def seconds(self, last: int) -> list[float]:
        """Seconds of steps ``0..last``: from each start to the next, the last one's
        to now (a step whose start was not seen counts 0)."""
        now = time.perf_counter()
        timings = []
        for index in range(last + 1):
            start = self._starts.get(index)
            end = self._starts.get(index + 1, now) if index < last else now
            timings.append(0.0 if start is None else max(0.0, end - start))
        return timings
