"""Where the kernel runner's files are (``ai.backend.runner``): the command line
and the library take the host-key tool, the entrypoint and the seccomp profile
from there.

Its own module, apart from the context's completion, so that ``kplan rollback``
finds the tools without loading the planner.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from legacy import legacy_runner_dir

__all__ = ["SAMPLES", "SAMPLE_KERNEL", "SAMPLE_RUNNER", "runner_dir"]

SAMPLES = Path(__file__).parent / "samples"
SAMPLE_RUNNER = SAMPLES / "runner"
SAMPLE_KERNEL = SAMPLES / "kernel.json"  # what ``sample`` names on the command line


def runner_dir() -> Path:
    """Where the runner package is: ``KPLAN_RUNNER_DIR``, else the importable
    ``ai.backend.runner`` (inside the agent), else the legacy venv's, else samples."""
    configured = os.environ.get("KPLAN_RUNNER_DIR")
    if configured:
        return Path(configured)
    return _importable_runner() or legacy_runner_dir() or SAMPLE_RUNNER


def _importable_runner() -> Path | None:
    try:
        spec = importlib.util.find_spec("ai.backend.runner")
    except ImportError:  # no ``ai`` or ``ai.backend`` package at all
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
