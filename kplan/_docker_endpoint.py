"""Which Docker engine ``kplan apply`` talks to, and whether it answers.

``--docker URL`` wins, then ``DOCKER_HOST`` (as the docker CLI reads it), then the
standard socket. An engine that does not answer is one clear line before anything
is changed, naming the endpoint and the way out (``--scratch-only``).
"""

from __future__ import annotations

import asyncio
import os

__all__ = ["DEFAULT_DOCKER", "PING_TIMEOUT", "docker_endpoint", "unreachable"]

DEFAULT_DOCKER = "unix:///var/run/docker.sock"
PING_TIMEOUT = 10.0


def docker_endpoint(given: str | None) -> str:
    """``given``, else ``DOCKER_HOST``, else the standard socket."""
    return given or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER


def unreachable(url: str) -> str | None:
    """Why no Docker engine answers at ``url``; ``None`` when one does."""
    return asyncio.run(_ping(url))


async def _ping(url: str) -> str | None:
    # Here, not above: aiodocker takes a tenth of a second to import, and only
    # an apply with Docker asks (``executor._docker_host``).
    import aiodocker  # noqa: PLC0415
    from aiodocker.exceptions import DockerError  # noqa: PLC0415

    try:
        async with asyncio.timeout(PING_TIMEOUT), aiodocker.Docker(url=url) as docker:
            await docker.version()
    except TimeoutError:
        return f"no answer within {PING_TIMEOUT:.0f} s"
    except DockerError as exc:
        return f"Docker {exc.status}: {exc.message}"
    except (OSError, ValueError) as exc:  # aiohttp's connection errors are OSErrors
        return str(exc) or type(exc).__name__
    return None
