"""The legacy bridge's public face (the IO lives in ``planner._legacy._bridge``)."""

from ._legacy._bridge import (
    LEGACY_PACKAGE,
    LegacyBridge,
    LegacyUnavailableError,
    WorkerError,
    ensure_legacy_venv,
    find_legacy_python,
    legacy_runner_dir,
    legacy_venv_dir,
)

__all__ = [
    "LEGACY_PACKAGE",
    "LegacyBridge",
    "LegacyUnavailableError",
    "WorkerError",
    "ensure_legacy_venv",
    "find_legacy_python",
    "legacy_runner_dir",
    "legacy_venv_dir",
]
