"""The ``docker_engine`` fixture is a real engine: no mocks anywhere (design §9).

Each test runs one ``asyncio.run`` scenario against the private dockerd.
"""

from __future__ import annotations

import asyncio

import aiodocker
import pytest
from aiodocker.containers import DockerContainer
from aiodocker.types import JSONObject

from .docker_engine import ReadyEngine

pytestmark = pytest.mark.docker

LOG_TIMEOUT = 10.0
LOG_POLL = 0.05


def test_the_engine_answers_version(docker_engine: ReadyEngine) -> None:
    version = asyncio.run(_version(docker_engine.url))
    assert version["Os"] == "linux"
    assert version["ApiVersion"]


def test_a_busybox_container_runs_logs_and_is_deleted(
    docker_engine: ReadyEngine,
) -> None:
    asyncio.run(_run_echo_sleep(docker_engine))


def test_the_image_has_the_documented_layout(docker_engine: ReadyEngine) -> None:
    script = "ls -d /tmp /home/work /home/config /opt /etc && cat /dev/null && id -u"
    status, lines = asyncio.run(_run_to_exit(docker_engine, script))
    assert status == 0, lines
    assert lines[-1].strip() == "0"


async def _version(url: str) -> dict[str, object]:
    async with aiodocker.Docker(url=url) as docker:
        return await docker.version()


async def _run_echo_sleep(engine: ReadyEngine) -> None:
    """create, start, inspect and read logs, then force-delete and check it is gone."""
    async with aiodocker.Docker(url=engine.url) as docker:
        container = await docker.containers.create(
            config=_config(engine, "echo hi; sleep 30")
        )
        try:
            await container.start()
            state = (await container.show())["State"]
            assert state["Running"] is True, state
            assert "hi" in await _wait_for_log_line(container, "hi")
        finally:
            await container.delete(force=True)
        remaining = {c.id for c in await docker.containers.list(all=True)}
        assert container.id not in remaining


async def _run_to_exit(engine: ReadyEngine, script: str) -> tuple[int, list[str]]:
    """Run ``sh -c script`` to completion; its exit status and log lines."""
    async with aiodocker.Docker(url=engine.url) as docker:
        container = await docker.containers.create(config=_config(engine, script))
        try:
            await container.start()
            status = (await container.wait(timeout=LOG_TIMEOUT))["StatusCode"]
            return status, await container.log(stdout=True, stderr=True)
        finally:
            await container.delete(force=True)


def _config(engine: ReadyEngine, script: str) -> JSONObject:
    return {
        "Image": engine.image,
        "Cmd": ["sh", "-c", script],
        "HostConfig": {"NetworkMode": "none"},
    }


async def _wait_for_log_line(container: DockerContainer, line: str) -> list[str]:
    """The container's stdout lines, once ``line`` is one of them.

    Polls instead of following the log: aiodocker 0.27 never releases the HTTP
    connection of a ``follow=True`` stream left early (an unclosed-connection
    ResourceWarning, an error under ``filterwarnings = error``).

    Raises:
        TimeoutError: ``line`` did not appear within ``LOG_TIMEOUT``.
    """
    for _ in range(int(LOG_TIMEOUT / LOG_POLL)):
        lines = _stripped(await container.log(stdout=True))
        if line in lines:
            return lines
        await asyncio.sleep(LOG_POLL)
    raise TimeoutError(f"{line!r} not in the log after {LOG_TIMEOUT} s")


def _stripped(lines: list[str]) -> list[str]:
    return [x.strip() for x in lines]
