"""Where an apply's journal goes when the caller does not say (README "apply")."""

from __future__ import annotations

import os
import time
from pathlib import Path

from effects import Plan

__all__ = ["journal_dir", "journal_path"]


def journal_dir() -> Path:
    """``$XDG_STATE_HOME/kplan/journals`` (``~/.local/state`` without it)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "kplan" / "journals"


def journal_path(plan: Plan, directory: Path | None = None) -> Path:
    """``<directory>/<kernel>-<plan>-<time>-<pid>.jsonl``: never reused.

    ``directory`` defaults to ``journal_dir()``; the executor makes it if missing.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    plan_part = plan.header.plan_id[:12]
    name = f"{plan.header.kernel_id}-{plan_part}-{stamp}-{os.getpid()}.jsonl"
    return (directory or journal_dir()) / name
