"""Host ports (§14.1): who holds the pool ``AllocateHostPorts`` takes from.

The pool is the agent's: legacy keeps a set of free ports and pops them (oldest
free first), handing them back when a kernel goes. An agent using kplan passes its
own pool (``HostPortPool``) in ``ApplyOptions``; the step takes exactly the planned
ports from it and the undo gives them back, so no failure leaks one (legacy leaks
ports on several paths, §2.2).

Without an agent (``kplan apply``) there is no pool to take from: the plan's ports
come from the facts (the configured range minus what Docker publishes), and
``EnginePorts`` checks at apply time that each is still free, neither published
by a container of the engine nor bound by any process here. What holds the ports
afterwards is the container's own port bindings, so giving them back is nothing.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, final

from .errors import HostError

if TYPE_CHECKING:  # loaded by whoever passes a Docker client in
    import aiodocker

__all__ = ["EnginePorts", "HostPortPool", "published_ports"]

OPERATION = "allocate host ports"


class HostPortPool(Protocol):
    """The agent's pool of free host ports."""

    async def take(self, ports: Sequence[int]) -> None:
        """Take exactly ``ports``; raise ``HostError`` (and take none) if one is
        not free."""

    async def release(self, ports: Sequence[int]) -> None:
        """Give ``ports`` back (idempotent: a port already back is fine)."""


async def published_ports(docker: aiodocker.Docker) -> dict[int, str]:
    """Every host port a container on ``docker`` publishes, with that container."""
    from aiodocker.exceptions import DockerError  # noqa: PLC0415  (loaded: docker is)

    try:
        containers = await docker.containers.list(all=True)
    except DockerError as exc:
        raise HostError("list containers", "(docker)", str(exc.message)) from exc
    found: dict[int, str] = {}
    for container in containers:
        info = container._container  # noqa: SLF001  (aiodocker keeps the listing here)
        names = info.get("Names") or [info.get("Id", "?")]
        for port in info.get("Ports") or []:
            if port.get("PublicPort"):
                found[int(port["PublicPort"])] = str(names[0]).lstrip("/")
    return found


def _bound_elsewhere(port: int) -> bool:
    """True if a process here listens on TCP ``port`` (any address)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with contextlib.closing(probe):
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104  (a probe, closed at once)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@final
class EnginePorts:
    """The CLI's stand-in for a pool: checks the ports are free on this host."""

    def __init__(self, docker: aiodocker.Docker) -> None:
        self._docker = docker

    async def take(self, ports: Sequence[int]) -> None:
        """Refuse, naming the port, if a container publishes it or it is bound."""
        published = await published_ports(self._docker)
        for port in ports:
            if port in published:
                holder = published[port]
                reason = f"already published by the container {holder}"
                raise HostError(OPERATION, str(port), reason)
            if _bound_elsewhere(port):
                raise HostError(OPERATION, str(port), "already bound on this host")

    async def release(self, ports: Sequence[int]) -> None:
        """Nothing to give back: the removed container held them."""
        del ports
