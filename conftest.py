"""Fixtures shared by ``tests/`` and ``property_tests/``.

``docker_engine`` is a real, private Docker engine (design §9, see
``tests/docker_engine.py``). Being session-scoped, it starts on the first test that
asks for it, and never when no test does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import partial
from typing import NoReturn

import pytest

from legacy import LegacyBridge
from tests.docker_engine import (
    EngineError,
    ReadyEngine,
    build_busybox_image,
    is_required,
    make_base_dir,
    prepare_kernel_support,
    remove_kernel_network,
    start_engine,
    stop_engine,
    unavailable_reason,
)
from tests.legacy_engine import EXAMPLE_COUNTS, legacy_bridge_fixture


@pytest.fixture(scope="session")
def docker_engine(request: pytest.FixtureRequest) -> ReadyEngine:
    """A running private dockerd with the busybox test image loaded, a bridge
    network for kernels and the krunner volume.

    Skips the requesting tests, loudly and with the reason, when the machine cannot
    run the engine; fails them instead when ``KPLAN_REQUIRE_DOCKER=1``. The engine
    is stopped and its directory removed at session end, also after a Ctrl-C.
    """
    reason = unavailable_reason()
    if reason is not None:
        _unavailable(reason)
    try:
        engine = start_engine(make_base_dir())
    except EngineError as exc:
        _unavailable(f"dockerd did not start: {exc}")
    # A finalizer rather than a yield: it is registered before the image load, so a
    # failed load, an error or a Ctrl-C anywhere later still stops the engine.
    request.addfinalizer(partial(stop_engine, engine))
    image = asyncio.run(build_busybox_image(engine.url))
    # Finalizers run last first: the network goes before the engine stops.
    request.addfinalizer(partial(remove_kernel_network, engine.url))
    asyncio.run(prepare_kernel_support(engine.url, image))
    return ReadyEngine(url=engine.url, image=image)


def _unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it when a real engine is required."""
    message = f"NO REAL DOCKER ENGINE: {reason}"
    if is_required():
        pytest.fail(f"{message} (KPLAN_REQUIRE_DOCKER=1 requires one)", pytrace=False)
    pytest.skip(f"{message} (set KPLAN_REQUIRE_DOCKER=1 to make this a failure)")


@pytest.fixture(scope="session")
def legacy_bridge() -> Iterator[LegacyBridge]:
    """The real backend.ai-agent 26.9.6, through one long-lived bridge worker.

    Skips loudly when it cannot run here; fails instead with KPLAN_REQUIRE_LEGACY=1.
    """
    yield from legacy_bridge_fixture()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show how many examples the legacy equivalence property ran (CI's log)."""
    count = EXAMPLE_COUNTS["equivalence"]
    if count == 0:
        return
    terminalreporter.write_line(
        f"kplan: the legacy equivalence property ran {count} examples"
    )
