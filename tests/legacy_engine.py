"""The real legacy code for tests: one long-lived bridge worker per session.

Tests that compare with legacy skip, loudly and with the reason, when it cannot run
here (no Python 3.13, the venv cannot be built, not root: the worker confines legacy
with a private mount namespace); ``KPLAN_REQUIRE_LEGACY=1`` (set by CI) makes that
a failure instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from legacy import LegacyBridge, LegacyUnavailableError, WorkerError

__all__ = ["EXAMPLE_COUNTS", "legacy_bridge_fixture", "legacy_unavailable"]

# Examples each legacy property ran in this session (printed in pytest's summary).
EXAMPLE_COUNTS: dict[str, int] = {"equivalence": 0}


def legacy_unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when ``KPLAN_REQUIRE_LEGACY=1``."""
    message = f"NO REAL LEGACY CODE (backend-ai-agent 26.9.6): {reason}"
    if os.environ.get("KPLAN_REQUIRE_LEGACY") == "1":
        pytest.fail(f"{message} (KPLAN_REQUIRE_LEGACY=1 requires it)", pytrace=False)
    pytest.skip(f"{message} (set KPLAN_REQUIRE_LEGACY=1 to make this a failure)")


def legacy_bridge_fixture() -> Iterator[LegacyBridge]:
    """Start the worker once; stop it at the end of the session."""
    if os.geteuid() != 0:
        legacy_unavailable(
            "the worker confines legacy in a mount namespace: needs root"
        )
    bridge = LegacyBridge()
    try:
        bridge.start()
    except (LegacyUnavailableError, WorkerError) as exc:
        legacy_unavailable(str(exc))
    try:
        yield bridge
    finally:
        bridge.close()
