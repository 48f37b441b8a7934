"""The legacy bridge: the real ``backend-ai-agent==26.9.6`` as a comparison oracle.

An integration beside the core, not part of it (architecture.md §4): ``_venv``
builds and caches the legacy interpreter, ``_bridge`` talks to the sandboxed
``worker`` package that interpreter runs. Nothing here is imported by ``planner``
or ``executor``.
"""

from ._bridge import LegacyBridge
from ._venv import (
    LEGACY_PACKAGE,
    LEGACY_VERSION,
    ensure_legacy_venv,
    find_legacy_python,
    legacy_runner_dir,
    legacy_venv_dir,
)
from .errors import LegacyError, LegacyUnavailableError, WorkerError

__all__ = [
    "LEGACY_PACKAGE",
    "LEGACY_VERSION",
    "LegacyBridge",
    "LegacyError",
    "LegacyUnavailableError",
    "WorkerError",
    "ensure_legacy_venv",
    "find_legacy_python",
    "legacy_runner_dir",
    "legacy_venv_dir",
]
