"""The aiodocker side of the executor: pull, create, start, sudo, networks, verify,
readiness and remove, typed and small (the host ports' check is ``_port_pool``).

Docker errors become ``HostError`` with the status and message. Containers get two
labels so a leak is always findable: the kernel id and the plan id
(``executor._container_labels``). Removal only ever touches a container carrying
this plan's id.

Importing aiodocker (and aiohttp under it) takes a tenth of a second, more than
planning a kernel: only what talks to Docker imports this module, when it first
does (``executor.docker_facts``, an apply or rollback given a Docker endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from typing import Any, Self, cast, final

import aiodocker
from aiodocker.exceptions import DockerError
from aiodocker.types import JSONObject

from ._container_labels import KERNEL_LABEL, PLAN_LABEL
from ._port_pool import published_ports
from .errors import HostError

__all__ = ["DockerHost", "docker_facts"]
SUDO_COMMAND = (
    "sh",
    "-c",
    (
        'mkdir -p /etc/sudoers.d && echo "work ALL=(ALL:ALL) NOPASSWD:ALL" '
        "> /etc/sudoers.d/01-bai-work"
    ),
)
READY_HOST = "127.0.0.1"  # the REPL ports are always bound there (§14.1)
READY_POLL = 0.2
ZMTP_FIRST, ZMTP_LAST = 0xFF, 0x7F
NOT_FOUND = 404


async def docker_facts(
    url: str, image: str, port_range: tuple[int, int] | None = None
) -> dict[str, object]:
    """Docker's facts (docs/context.md): volume names, the image, free host ports.

    ``host_ports`` (when ``port_range`` is given) is the range minus every host
    port a container on this engine publishes: what an agent's pool would hold.
    """
    async with aiodocker.Docker(url=url) as docker:
        try:
            listed = await docker.volumes.list()  # type: ignore[no-untyped-call]
        except DockerError as exc:
            raise _docker_error("list volumes", url, exc) from exc
        state = await DockerHost.image_state(docker, image)
        used = await published_ports(docker)
    volumes = listed.get("Volumes") or []
    facts: dict[str, object] = {
        "docker_volumes": sorted(str(v["Name"]) for v in volumes),
        "image_present": state["present"],
        "image_id": state.get("id"),
    }
    if port_range is not None:
        start, end = port_range
        facts["host_ports"] = [p for p in range(start, end + 1) if p not in used]
    return facts


def _docker_error(operation: str, target: str, exc: DockerError) -> HostError:
    return HostError(operation, target, f"Docker {exc.status}: {exc.message}")


@final
class DockerHost:
    """One Docker endpoint; an async context manager."""

    def __init__(self, url: str, plan_id: str) -> None:
        self._url = url
        self._plan_id = plan_id
        self._docker: aiodocker.Docker | None = None

    async def __aenter__(self) -> Self:
        self._docker = aiodocker.Docker(url=self._url)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._docker is not None:
            await self._docker.close()

    @property
    def docker(self) -> aiodocker.Docker:
        """The client (only inside ``async with``)."""
        if self._docker is None:
            msg = "DockerHost used outside 'async with'"
            raise RuntimeError(msg)
        return self._docker

    async def observe_image(self, ref: str) -> bool:
        """Prior of ``PullImage``: is the image present already?"""
        return bool((await self.image_state(self.docker, ref))["present"])

    @staticmethod
    async def image_state(docker: aiodocker.Docker, ref: str) -> dict[str, object]:
        """``{"present": bool, "id": image id}`` for ``ref`` on ``docker``."""
        try:
            info = await docker.images.inspect(ref)
        except DockerError as exc:
            if exc.status == NOT_FOUND:
                return {"present": False}
            raise _docker_error("inspect image", ref, exc) from exc
        return {"present": True, "id": str(info.get("Id"))}

    async def pull(self, ref: str) -> None:
        """Pull ``ref``."""
        try:
            await self.docker.images.pull(ref)
        except DockerError as exc:
            raise _docker_error("pull", ref, exc) from exc

    async def remove_image(self, ref: str) -> None:
        """Remove an image the plan pulled (absent is fine)."""
        try:
            await self.docker.images.delete(ref, force=True)
        except DockerError as exc:
            if exc.status != NOT_FOUND:
                raise _docker_error("remove image", ref, exc) from exc

    async def observe_container(self, name: str) -> None:
        """Before ``CreateContainer``: no container may have this name yet."""
        if await self._inspect(name) is not None:
            raise HostError(
                "create container", name, "a container with this name exists"
            )

    async def create(
        self, name: str, config: Mapping[str, object], kernel_id: str
    ) -> str:
        """Create the container with the plan's body plus kplan's labels; its id."""
        body = dict(config)
        labels = body.get("Labels")
        body["Labels"] = {
            **(labels if isinstance(labels, dict) else {}),
            PLAN_LABEL: self._plan_id,
            KERNEL_LABEL: kernel_id,
        }
        try:
            created = await self.docker.containers.create(
                cast("JSONObject", body), name=name
            )
        except DockerError as exc:
            raise _docker_error("create container", name, exc) from exc
        return str(created.id)

    async def start(self, name: str) -> None:
        """Start the container."""
        try:
            await self.docker.containers.container(name).start()
        except DockerError as exc:
            raise _docker_error("start container", name, exc) from exc

    async def verify(self, name: str, checks: tuple[str, ...], grace_ms: int) -> None:
        """Raise ``HostError`` unless every check holds (see VerifyContainer)."""
        state = await self._state(name)
        if "init-alive" in checks:
            _check_alive(name, state)
        if "running" in checks and not state.get("Running"):
            raise HostError("verify container", name, f"not running: {_why(state)}")
        if "still-running" in checks:
            await asyncio.sleep(grace_ms / 1000)
            later = await self._state(name)
            same_start = later.get("StartedAt") == state.get("StartedAt")
            if not later.get("Running") or not same_start:
                raise HostError(
                    "verify container",
                    name,
                    f"did not stay up for {grace_ms} ms: {_why(later)}",
                )

    async def verify_ports(self, name: str, ports: tuple[tuple[int, int], ...]) -> None:
        """Docker bound each container port to the planned host port (B17)."""
        container = self.docker.containers.container(name)
        for container_port, host_port in ports:
            try:
                bound = await container.port(container_port) or []
            except DockerError as exc:
                raise _docker_error("verify container", name, exc) from exc
            actual = {str(b.get("HostPort")) for b in bound}
            if str(host_port) not in actual:
                reason = (
                    f"port {container_port} is bound to {sorted(actual) or 'nothing'}, "
                    f"not the planned {host_port}"
                )
                raise HostError("verify container", name, reason)

    async def provision_sudo(self, name: str) -> None:
        """Give the work user passwordless sudo, as root inside the container (B16).

        Legacy treats any output as failure and ignores the exit status; kplan
        waits for the command and needs status 0.
        """
        container = self.docker.containers.container(name)
        try:
            run = await container.exec(list(SUDO_COMMAND), user="root")
            async with run.start(detach=False) as stream:
                output = b""
                while (message := await stream.read_out()) is not None:
                    output += message.data
            inspected = await run.inspect()
        except DockerError as exc:
            raise _docker_error("provision sudo", name, exc) from exc
        code = inspected.get("ExitCode")
        if code != 0 or output:
            text = output.decode(errors="replace").strip()
            raise HostError("provision sudo", name, f"exit {code}: {text!r}")

    async def connect_networks(self, name: str, networks: tuple[str, ...]) -> None:
        """Attach the container to each network it is not attached to yet (B16)."""
        info = await self._inspect(name)
        if info is None:
            raise HostError("connect networks", name, "no such container")
        attached = (info.get("NetworkSettings") or {}).get("Networks") or {}
        known = set(attached) | {
            n["NetworkID"] for n in attached.values() if n and n.get("NetworkID")
        }
        for network in networks:
            if network in known:
                continue
            try:
                await (await self.docker.networks.get(network)).connect(
                    {"Container": info["Id"]}
                )
            except DockerError as exc:
                raise _docker_error("connect network", network, exc) from exc

    async def wait_ready(
        self, name: str, ports: tuple[int, ...], timeout_ms: int
    ) -> None:
        """Wait until the kernel runner greets on each REPL host port (B19).

        The runner's REPL sockets are ZeroMQ: a listener sends the ZMTP signature
        (``0xff``, 8 bytes, ``0x7f``) as soon as a peer connects. A bare TCP connect
        proves nothing here (Docker's proxy accepts for a container that listens
        on nothing), so the signature is what counts. The container dying while
        waited for fails at once.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        waiting = list(ports)
        while waiting:
            if await _greets(READY_HOST, waiting[0]):
                waiting.pop(0)
                continue
            state = await self._state(name)
            if not state.get("Running"):
                reason = f"exited while waited for: {_why(state)}"
                raise HostError("wait for the kernel", name, reason)
            if time.monotonic() >= deadline:
                reason = (
                    f"port {waiting[0]} gave no ZMTP greeting within {timeout_ms} ms"
                )
                raise HostError("wait for the kernel", name, reason)
            await asyncio.sleep(READY_POLL)

    async def remove_container(self, name: str) -> None:
        """Remove (force) the plan's container; absent is fine, another's is refused."""
        info = await self._inspect(name)
        if info is None:
            return
        labels = (info.get("Config") or {}).get("Labels") or {}
        if labels.get(PLAN_LABEL) != self._plan_id:
            raise HostError(
                "remove container", name, "it does not carry this plan's label"
            )
        try:
            await self.docker.containers.container(name).delete(force=True)
        except DockerError as exc:
            if exc.status != NOT_FOUND:
                raise _docker_error("remove container", name, exc) from exc

    async def _inspect(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.docker.containers.container(name).show()
        except DockerError as exc:
            if exc.status == NOT_FOUND:
                return None
            raise _docker_error("inspect container", name, exc) from exc

    async def _state(self, name: str) -> dict[str, Any]:
        info = await self._inspect(name)
        if info is None:
            raise HostError("verify container", name, "no such container")
        state = info.get("State")
        return state if isinstance(state, dict) else {}


async def _greets(host: str, port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), READY_POLL
        )
    except (OSError, TimeoutError):
        return False
    try:
        greeting = await asyncio.wait_for(reader.readexactly(10), READY_POLL * 5)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return greeting[0] == ZMTP_FIRST and greeting[9] == ZMTP_LAST


def _check_alive(name: str, state: Mapping[str, Any]) -> None:
    pid = state.get("Pid")
    if not isinstance(pid, int) or pid <= 0:
        raise HostError("verify container", name, f"no init process: {_why(state)}")
    try:
        os.kill(pid, 0)  # signal 0: does the process exist?
    except ProcessLookupError as exc:
        raise HostError(
            "verify container", name, f"init process {pid} is gone"
        ) from exc
    except PermissionError:
        return  # it exists but belongs to someone else: alive


def _why(state: Mapping[str, Any]) -> str:
    return (
        f"status={state.get('Status')} exit={state.get('ExitCode')}"
        f" error={state.get('Error')!r}"
    )
