"""The apply's progress bar on a terminal (rich), nothing elsewhere.

Only when stderr is a terminal: a pipe, a file or ``--format json``'s consumers get
no control characters. The bar advances as each step starts (the executor's
``on_step`` hook, called once its intent is journaled) and shows the step; rich
redraws it a few times a second, so a long step (an image pull, the container's
grace period) still shows the time going by.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, final

from effects import Plan, Step, describe

from ._terminal import may_be_terminal

if TYPE_CHECKING:  # rich is imported only for a terminal: a tenth of a second
    from rich.progress import Progress, TaskID

__all__ = ["ApplyProgress", "apply_progress"]

DESCRIPTION_WIDTH = 60


@final
class ApplyProgress:
    """An ``on_step`` hook drawing the bar."""

    def __init__(self, progress: Progress, task: TaskID, total: int) -> None:
        self._progress = progress
        self._task = task
        self._total = total

    def __call__(self, index: int, step: Step) -> None:
        """Step ``index`` starts: the bar shows it and the steps done before it."""
        what = f"{step.stage}: {describe(step.effect)}"
        if len(what) > DESCRIPTION_WIDTH:
            what = what[: DESCRIPTION_WIDTH - 3] + "..."
        self._progress.update(self._task, completed=index, description=what)

    def finish(self) -> None:
        """Every step ran: the bar full."""
        self._progress.update(self._task, completed=self._total, description="applied")


@contextmanager
def apply_progress(plan: Plan) -> Iterator[ApplyProgress | None]:
    """The progress hook for an apply of ``plan``, or ``None`` off a terminal."""
    if not plan.steps or not may_be_terminal(sys.stderr):
        yield None
        return
    from rich.console import Console  # noqa: PLC0415  (kplan._terminal)
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(file=sys.stderr)
    if not console.is_terminal:
        yield None
        return
    progress = Progress(
        TextColumn("[bold]apply[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    )
    with progress:
        task = progress.add_task("", total=len(plan.steps))
        yield ApplyProgress(progress, task, len(plan.steps))
