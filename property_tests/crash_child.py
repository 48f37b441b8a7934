"""A process that applies a plan and is killed with SIGKILL part-way (crash tests).

Usage: ``python crash_child.py PLAN JOURNAL KILL_INDEX DELAY_SECONDS``. When step
``KILL_INDEX``'s intent is journaled, a timer of ``DELAY_SECONDS`` starts; when it
fires the process kills itself with SIGKILL, wherever the apply is by then
(between two effects or in the middle of one).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

from effects import Step, decode
from executor import ApplyOptions, apply_plan, default_tools
from legacy import legacy_runner_dir


def main() -> None:
    plan = decode(Path(sys.argv[1]).read_bytes()).unwrap()
    journal, kill_index, delay = Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

    def arm(index: int, _step: Step) -> None:
        if index == kill_index:
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()

    options = ApplyOptions(
        journal=journal, tools=default_tools(legacy_runner_dir()), on_step=arm
    )
    asyncio.run(apply_plan(plan, options))
    os.kill(
        os.getpid(), signal.SIGKILL
    )  # the timer may not have fired yet: crash anyway


if __name__ == "__main__":
    main()
