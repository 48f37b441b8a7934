"""One host: the confined scratch root plus, when the plan needs it, Docker.

Dispatches each effect to its observe / apply step and each undo action to its
adapter call. Filesystem calls are blocking and run in a worker thread
(``asyncio.to_thread``) so the event loop stays free (architecture.md §5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar, assert_never, final

from effects import (
    Chmod,
    Chown,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    Effect,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    PullImage,
    RegisterKernel,
    StartContainer,
    VerifyContainer,
    WriteFile,
    thaw_object,
)

from ._confined_fs import ScratchRoot
from ._docker_host import DockerHost
from ._inverse import (
    Prior,
    RemoveContainer,
    RemoveDir,
    RemoveFile,
    RemoveImage,
    RestoreFile,
    SetMode,
    SetOwner,
    Undo,
    Unmount,
)
from .errors import HostError

__all__ = ["Host", "needs_docker", "to_completion"]

T = TypeVar("T")


async def to_completion(operation: Coroutine[Any, Any, T]) -> T:
    """Await ``operation``; if the caller is cancelled meanwhile, let it finish first.

    A filesystem call in a worker thread or a Docker request cannot be stopped
    half-way: abandoning it would let it land after the rollback has started and
    leave its effect behind. So a cancellation (or an undo timeout) waits for the
    operation to end, then propagates unchanged; what the operation raised in the
    meantime rides along as a note.
    """
    task = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError as cancelled:
        while not task.done():
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                continue  # cancelled again: keep waiting, then propagate the first
        if task.cancelled():
            cancelled.add_note("kplan: the interrupted operation was cancelled")
        elif (outcome := task.exception()) is not None:
            cancelled.add_note(
                f"kplan: the interrupted operation ended with {outcome!r}"
            )
        else:
            cancelled.add_note("kplan: the interrupted operation finished")
        raise


CONTAINER_EFFECTS = (PullImage, CreateContainer, StartContainer, VerifyContainer)


def needs_docker(effect: Effect) -> bool:
    """True for effects that talk to Docker."""
    return isinstance(effect, CONTAINER_EFFECTS)


@final
class Host:
    """Observe, apply and undo against one scratch root and one Docker endpoint."""

    def __init__(
        self,
        fs: ScratchRoot,
        docker: DockerHost | None,
        blobs: Mapping[str, bytes],
        kernel_id: str,
    ) -> None:
        self.fs = fs
        self._docker = docker
        self._blobs = blobs
        self._kernel_id = kernel_id
        self.container_id: str | None = None

    def _need_docker(self, what: str) -> DockerHost:
        if self._docker is None:
            raise HostError(
                what, "(docker)", "no Docker endpoint was given (--docker URL)"
            )
        return self._docker

    async def observe(self, effect: Effect) -> Prior:
        """The prior state the effect's inverse needs (``HostError`` if blocked)."""
        return await to_completion(self._observe(effect))

    async def apply(self, effect: Effect, prior: Prior) -> str:
        """Apply one effect; what happened: ``applied``, ``kept`` or ``recorded``."""
        return await to_completion(self._apply(effect, prior))

    async def undo(self, action: Undo) -> None:
        """Run one undo action (idempotent; see ``executor._inverse``) to its end.

        Under the rollback's per-action timeout a worker thread cannot be stopped:
        a cancellation waits for it, so a timed-out undo never runs on behind the
        rollback (and never lands after the next action started).
        """
        await to_completion(self._undo(action))

    async def _observe(self, effect: Effect) -> Prior:  # noqa: PLR0911  (one per effect)
        fs = self.fs
        match effect:
            case MakeDir(path=path):
                return await asyncio.to_thread(fs.observe_dir, path)
            case WriteFile(path=path):
                return await asyncio.to_thread(fs.observe_file, path)
            case Chmod(path=path) | Chown(path=path):
                return await asyncio.to_thread(fs.observe_meta, path)
            case GenerateHostKey():
                return await asyncio.to_thread(fs.observe_host_key, effect)
            case MountScratch():
                return await asyncio.to_thread(fs.observe_mount, effect)
            case PullImage(ref=ref):
                return await self._need_docker("pull").observe_image(ref)
            case CreateContainer(name=name):
                return await self._need_docker("create").observe_container(name)
            case _:
                return {}

    async def _apply(self, effect: Effect, prior: Prior) -> str:  # noqa: C901, PLR0912
        fs = self.fs
        match effect:
            case MakeDir(path=path, mode=mode):
                if prior.get("existed"):
                    return "kept"
                await asyncio.to_thread(fs.make_dir, path, mode)
            case WriteFile(path=path, blob=blob, mode=mode):
                existed = bool(prior.get("existed"))
                await asyncio.to_thread(
                    fs.write_file, path, self._blobs[blob], mode, existed=existed
                )
            case Chmod(path=path, mode=mode):
                await asyncio.to_thread(fs.chmod, path, mode)
            case Chown(path=path, uid=uid, gid=gid):
                await asyncio.to_thread(fs.chown, path, uid, gid)
            case GenerateHostKey():
                existed = bool(prior.get("public_existed"))
                await asyncio.to_thread(fs.host_key, effect, public_existed=existed)
            case MountScratch():
                await asyncio.to_thread(fs.mount, effect)
            case PullImage(ref=ref):
                if prior.get("present"):
                    return "kept"
                await self._need_docker("pull").pull(ref)
            case CreateContainer(name=name, config=config):
                docker = self._need_docker("create")
                self.container_id = await docker.create(
                    name, thaw_object(config), self._kernel_id
                )
            case StartContainer(name=name):
                await self._need_docker("start").start(name)
            case VerifyContainer(name=name, checks=checks, grace_ms=grace_ms):
                await self._need_docker("verify").verify(name, checks, grace_ms)
            case ContainerMount() | ContainerConfig() | RegisterKernel():
                return "recorded"  # data for the create body and the agent
            case _:
                assert_never(effect)
        return "applied"

    async def _undo(self, action: Undo) -> None:
        fs = self.fs
        match action:
            case RemoveDir(path=path):
                await asyncio.to_thread(fs.remove_dir, path)
            case RemoveFile(path=path):
                await asyncio.to_thread(fs.remove_file, path)
            case RestoreFile(path=path, content=content, mode=mode, uid=uid, gid=gid):
                await asyncio.to_thread(fs.restore_file, path, content, mode, uid, gid)
            case SetMode(path=path, mode=mode):
                await asyncio.to_thread(fs.chmod, path, mode)
            case SetOwner(path=path, uid=uid, gid=gid):
                await asyncio.to_thread(fs.chown, path, uid, gid)
            case Unmount(path=path):
                await asyncio.to_thread(fs.unmount, path)
            case RemoveImage(ref=ref):
                await self._need_docker("remove image").remove_image(ref)
            case RemoveContainer(name=name):
                await self._need_docker("remove container").remove_container(name)
            case _:
                assert_never(action)
