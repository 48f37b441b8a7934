"""The legacy bridge: the real ``backend-ai-agent==26.9.6`` as a comparison oracle.

An integration beside the core, not part of it (architecture.md §4): ``_venv``
builds and caches the legacy interpreter, ``_bridge`` talks to the sandboxed
``worker`` package that interpreter runs. Nothing here is imported by ``planner``
or ``executor``. Each name is imported from its module on first use
(``effects._exports``): finding the runner loads no bridge.
"""

from typing import TYPE_CHECKING

from effects._exports import lazy_exports

if TYPE_CHECKING:
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

_WHERE = {
    "LegacyBridge": "._bridge",
    **dict.fromkeys(
        (
            "LEGACY_PACKAGE",
            "LEGACY_VERSION",
            "ensure_legacy_venv",
            "find_legacy_python",
            "legacy_runner_dir",
            "legacy_venv_dir",
        ),
        "._venv",
    ),
    **dict.fromkeys(
        ("LegacyError", "LegacyUnavailableError", "WorkerError"), ".errors"
    ),
}

__getattr__ = lazy_exports(__name__, _WHERE)
