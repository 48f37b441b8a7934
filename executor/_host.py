"""One host: the confined scratch root plus, when the plan needs it, Docker.

Dispatches each effect to its observe / apply step and each undo action to its
adapter call. Filesystem calls are blocking and run in a worker thread
(``asyncio.to_thread``) so the event loop stays free (architecture.md §5); every
one, an undo's too, runs to completion (``to_completion``): a thread cannot be
stopped, and one abandoned by a cancellation or a timeout would land after the
rollback has moved on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, final

import attrs

from effects import (
    AllocateHostPorts,
    AppendContainerId,
    Chmod,
    Chown,
    ConnectNetworks,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    Effect,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    ProvisionSudo,
    PullImage,
    RegisterKernel,
    ServeSocketProxy,
    StartContainer,
    VerifyContainer,
    WaitKernelReady,
    WriteFile,
    describe,
    thaw_object,
)

from ._confined_apply import (
    append_line,
    change_meta,
    host_key,
    make_dir,
    mount,
    write_new,
    write_over,
)
from ._confined_fs import Announce, ScratchRoot
from ._confined_observe import (
    observe_dir,
    observe_file,
    observe_host_key,
    observe_meta,
    observe_mount,
)
from ._confined_undo import undo_on
from ._inverse import (
    Changed,
    ReleasePorts,
    RemoveContainer,
    RemoveEntry,
    RemoveImage,
    RemoveStaging,
    RestoreFile,
    SetMeta,
    StopProxy,
    Undo,
    Unmount,
)
from ._port_pool import EnginePorts, HostPortPool
from ._records import (
    DirPrior,
    FilePrior,
    HostKeyPrior,
    ImagePrior,
    Left,
    MetaPrior,
    MountPrior,
    NoPrior,
    Prior,
    ProxyPrior,
    Stamp,
)
from ._socket_proxy import make_dirs, observe_proxy, start_proxy, stop_proxy
from .errors import HostError

if TYPE_CHECKING:  # aiodocker is loaded where Docker is used
    from ._docker_host import DockerHost

__all__ = ["Applied", "Host", "to_completion"]

T = TypeVar("T")


async def to_completion(operation: Coroutine[Any, Any, T]) -> T:
    """Await ``operation``; if the caller is cancelled meanwhile, let it finish first.

    A filesystem call in a worker thread or a Docker request cannot be stopped
    half-way: abandoning it would let it land after the rollback has started and
    leave its effect behind. So a cancellation (or an undo timeout) waits for the
    operation to end, then propagates unchanged; a note says how it ended.
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


@final
@attrs.frozen(kw_only=True)
class Applied:
    """What one step did: ``applied``, ``kept`` or ``recorded``, and what it left."""

    outcome: str
    left: Left = ()


@final
class Host:
    """Observe, apply and undo against one scratch root and one Docker endpoint.

    ``token`` makes this apply's staging names (``.kplan-<token>-<step>``) its own.
    """

    def __init__(  # noqa: PLR0917  (the host's parts, each needed)
        self,
        fs: ScratchRoot,
        docker: DockerHost | None,
        blobs: Mapping[str, bytes],
        kernel_id: str,
        token: str = "",
        ports: HostPortPool | None = None,
    ) -> None:
        self.fs = fs
        self._docker = docker
        self._blobs = blobs
        self._kernel_id = kernel_id
        self._token = token
        self._ports = ports
        self.container_id: str | None = None

    def _need_ports(self) -> HostPortPool:
        if self._ports is not None:
            return self._ports
        if self._docker is not None:
            return EnginePorts(self._docker.docker)
        raise HostError(
            "host ports", "(pool)", "no port pool and no Docker endpoint was given"
        )

    def _need_docker(self, what: str) -> DockerHost:
        if self._docker is None:
            raise HostError(
                what, "(docker)", "no Docker endpoint was given (--docker URL)"
            )
        return self._docker

    def _staging(self, index: int, suffix: str = "") -> str:
        return f".kplan-{self._token}-{index}{suffix}"

    async def observe(self, index: int, effect: Effect) -> Prior:
        """The prior state step ``index``'s undo needs (``HostError`` if blocked)."""
        return await to_completion(self._observe(index, effect))

    async def apply(self, effect: Effect, prior: Prior, announce: Announce) -> Applied:
        """Apply one effect; ``announce`` is told of each entry it makes new."""
        return await to_completion(self._apply(effect, prior, announce))

    async def undo(self, action: Undo, *, force: bool = False) -> Changed | None:
        """Run one undo action to its end (see ``executor._inverse``).

        Returns ``None`` when the path is back as before the step, or ``Changed``
        when it is left as it is because it changed since the apply (``force``
        puts it back anyway). Under the rollback's per-action timeout a worker
        thread cannot be stopped: the cancellation waits for it, so a timed-out
        undo never runs on behind the rollback.
        """
        return await to_completion(self._undo(action, force=force))

    async def _observe(  # noqa: C901, PLR0911  (one case per effect)
        self, index: int, effect: Effect
    ) -> Prior:
        fs, staging = self.fs, self._staging(index)
        match effect:
            case MakeDir(path=path):
                return await asyncio.to_thread(observe_dir, fs, path, staging)
            case WriteFile(path=path):
                saved = f"prior-{index}"
                return await asyncio.to_thread(observe_file, fs, path, staging, saved)
            case Chmod(path=path):
                return await asyncio.to_thread(observe_meta, fs, path, "chmod")
            case Chown(path=path):
                return await asyncio.to_thread(observe_meta, fs, path, "chown")
            case GenerateHostKey():
                public = self._staging(index, "-pub")
                return await asyncio.to_thread(
                    observe_host_key, fs, effect, staging, public
                )
            case MountScratch():
                return await asyncio.to_thread(observe_mount, fs, effect, staging)
            case PullImage(ref=ref):
                present = await self._need_docker("pull").observe_image(ref)
                return ImagePrior(present=present)
            case CreateContainer(name=name):
                await self._need_docker("create").observe_container(name)
                return NoPrior()
            case ServeSocketProxy(path=path):
                return await asyncio.to_thread(observe_proxy, Path(path))
            case AppendContainerId(path=path):
                saved = f"prior-{index}"
                prior = await asyncio.to_thread(observe_file, fs, path, "", saved)
                if prior.old is None:
                    raise HostError("append container id", str(path), "no such file")
                return prior
            case _:
                return NoPrior()

    async def _apply(  # noqa: C901, PLR0912  (one case per effect and prior)
        self, effect: Effect, prior: Prior, announce: Announce
    ) -> Applied:
        fs = self.fs
        match effect, prior:
            case MakeDir(), DirPrior(existed=True):
                return Applied(outcome="kept")
            case MakeDir(path=path, mode=mode), DirPrior(staging=str(staging)):
                owner = (effect.uid, effect.gid)
                left = await asyncio.to_thread(
                    make_dir, fs, path, mode, staging, announce, owner
                )
                return Applied(outcome="applied" if left else "kept", left=left)
            case WriteFile(path=p, blob=blob, mode=mode), FilePrior(
                staging=str(staged)
            ):
                data = self._blobs[blob]
                left = await asyncio.to_thread(
                    write_new,
                    fs,
                    p,
                    data,
                    digest=blob,
                    mode=mode,
                    staging=staged,
                    announce=announce,
                    owner=(effect.uid, effect.gid),
                )
            case WriteFile(path=path, blob=blob), FilePrior(old=Stamp() as old):
                data = self._blobs[blob]
                left = await asyncio.to_thread(write_over, fs, path, data, blob, old)
            case Chmod(path=path, mode=mode), MetaPrior(old=old):
                left = await asyncio.to_thread(change_meta, fs, path, old, mode, None)
            case Chown(path=path, uid=uid, gid=gid), MetaPrior(old=old):
                owner = (uid, gid)
                left = await asyncio.to_thread(change_meta, fs, path, old, None, owner)
            case GenerateHostKey(), HostKeyPrior():
                left = await asyncio.to_thread(host_key, fs, effect, prior, announce)
            case MountScratch(), MountPrior():
                left = await asyncio.to_thread(mount, fs, effect, prior, announce)
            case PullImage(), ImagePrior(present=True):
                return Applied(outcome="kept")
            case PullImage(ref=ref), ImagePrior():
                await self._need_docker("pull").pull(ref)
                left = ()
            case AppendContainerId(path=path), FilePrior(old=Stamp() as old):
                if self.container_id is None:
                    raise HostError("append container id", str(path), "no container")
                line = f"CID={self.container_id}\n".encode()
                left = await asyncio.to_thread(append_line, fs, path, line, old)
            case ServeSocketProxy(path=path, target=target), ProxyPrior(made=made):
                await asyncio.to_thread(make_dirs, made)
                await asyncio.to_thread(start_proxy, Path(path), target)
                left = ()
            case _:
                return await self._container_step(effect)
        return Applied(outcome="applied", left=left)

    async def _container_step(self, effect: Effect) -> Applied:
        match effect:
            case CreateContainer(name=name, config=config):
                docker = self._need_docker("create")
                self.container_id = await docker.create(
                    name, thaw_object(config), self._kernel_id
                )
            case StartContainer(name=name):
                await self._need_docker("start").start(name)
            case VerifyContainer(
                name=name, checks=checks, grace_ms=grace_ms, ports=ports
            ):
                docker = self._need_docker("verify")
                await docker.verify(name, checks, grace_ms)
                if "port-bindings" in checks:
                    await docker.verify_ports(name, ports)
            case AllocateHostPorts(ports=ports):
                await self._need_ports().take(ports)
            case ProvisionSudo(name=name):
                await self._need_docker("provision sudo").provision_sudo(name)
            case ConnectNetworks(name=name, networks=networks):
                await self._need_docker("connect").connect_networks(name, networks)
            case WaitKernelReady(name=name, ports=ports, timeout_ms=timeout_ms):
                await self._need_docker("wait").wait_ready(name, ports, timeout_ms)
            case ContainerMount() | ContainerConfig() | RegisterKernel():
                return Applied(outcome="recorded")  # the create body's, the agent's
            case _:
                msg = f"no prior of the right kind for {describe(effect)}"
                raise AssertionError(msg)  # observe makes them in pairs
        return Applied(outcome="applied")

    async def _undo(self, action: Undo, *, force: bool) -> Changed | None:
        match action:
            case (
                RemoveStaging() | RemoveEntry() | RestoreFile() | SetMeta() | Unmount()
            ):
                return await asyncio.to_thread(undo_on, self.fs, action, force=force)
            case RemoveImage(ref=ref):
                await self._need_docker("remove image").remove_image(ref)
            case RemoveContainer(name=name):
                await self._need_docker("remove container").remove_container(name)
            case StopProxy(path=path, made=made):
                await asyncio.to_thread(stop_proxy, path, made)
            case ReleasePorts(ports=ports):
                await self._need_ports().release(ports)
        return None
