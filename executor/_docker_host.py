"""The only aiodocker user: pull, create, start, verify and remove, typed and small.

Docker errors become ``HostError`` with the status and message. Containers get two
labels so a leak is always findable: the kernel id and the plan id
(``ai.backend.kplan.plan-id``). Removal only ever touches a container carrying this
plan's id.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any, Self, cast, final

import aiodocker
from aiodocker.exceptions import DockerError
from aiodocker.types import JSONObject

from .errors import HostError

__all__ = ["PLAN_LABEL", "DockerHost", "docker_facts"]

PLAN_LABEL = "ai.backend.kplan.plan-id"
KERNEL_LABEL = "ai.backend.kernel-id"
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
            containers = await docker.containers.list(all=True)
        except DockerError as exc:
            raise _docker_error("list volumes and containers", url, exc) from exc
        state = await DockerHost.image_state(docker, image)
    volumes = listed.get("Volumes") or []
    facts: dict[str, object] = {
        "docker_volumes": sorted(str(v["Name"]) for v in volumes),
        "image_present": state["present"],
        "image_id": state.get("id"),
    }
    if port_range is not None:
        used = {
            int(port["PublicPort"])
            for container in containers
            for port in container._container.get("Ports") or []  # noqa: SLF001
            if port.get("PublicPort")
        }
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
