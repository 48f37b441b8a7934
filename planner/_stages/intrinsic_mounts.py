"""The mounts every new kernel gets first, and the domain-socket proxies (§5).

``get_intrinsic_mounts`` runs before allocation and before the scratch exists (§2
A9), on new kernels only: the scratch's config and work dirs, the memory scratch's
tmp dir, the host's time zone files, lxcfs's proc and cpu views, the
deeplearning-samples volume for deep-learning images, core dumps when enabled, the
agent socket, and one proxy socket per ``internal_data.domain_socket_proxies``
entry. Legacy starts each proxy's unix server right here and never closes it when
creation fails later (H19); kplan plans it as an effect with an inverse, named by
the shell's random token (``facts.socket_proxy_tokens``).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from returns.result import Result

from effects import ServeSocketProxy

from .._context import Context
from .._layout import config_dir, host_path, tmp_dir, work_dir
from .._stage_api import Draft, Part, Upstream
from .._threaded import Mount, Permission
from ..errors import PlanError

__all__ = ["DEEPLEARNING_KEYS", "intrinsic_mounts"]

STAGE = "intrinsic-mounts"
DEEPLEARNING_KEYS = ("tensorflow", "caffe", "keras", "torch", "mxnet", "theano")
SAMPLES_VOLUME = "deeplearning-samples"
LXCFS = PurePosixPath("/var/lib/lxcfs")
PROXIES = "kernel_config.internal_data.domain_socket_proxies"


def intrinsic_mounts(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``get_intrinsic_mounts()`` (§5)."""
    draft = Draft(ctx, up, STAGE)
    if not ctx.restarting:
        mounts = [*_scratch_mounts(ctx), *_host_mounts(ctx), *_proxies(ctx, draft)]
        draft.thread(mounts=(*up.mounts, *mounts))
    return draft.result()


def _scratch_mounts(ctx: Context) -> list[Mount]:
    mounts = [
        _bind(host_path(ctx, config_dir(ctx)), "/home/config", "ro"),
        _bind(host_path(ctx, work_dir(ctx)), "/home/work", "rw"),
    ]
    if _linux(ctx) and ctx.local.container.scratch_type == "memory":
        mounts.append(_bind(host_path(ctx, tmp_dir(ctx)), "/tmp", "rw"))  # noqa: S108
    return mounts


def _linux(ctx: Context) -> bool:
    return ctx.facts.host.platform.startswith("linux")


def _host_mounts(ctx: Context) -> list[Mount]:
    host = ctx.facts.host
    mounts = [
        _bind(PurePosixPath(path), path, "ro")
        for present, path in (
            (host.etc_localtime, "/etc/localtime"),
            (host.etc_timezone, "/etc/timezone"),
        )
        if _linux(ctx) and present
    ]
    mounts += _lxcfs_mounts(ctx)
    volumes = ctx.facts.docker_volumes or ()
    if SAMPLES_VOLUME in volumes and any(
        k in ctx.image_ref.short for k in DEEPLEARNING_KEYS
    ):
        mounts.append(
            Mount(
                type="volume",
                source=SAMPLES_VOLUME,
                target="/home/work/samples",
                permission="ro",
            )
        )
    coredump = ctx.local.debug.coredump
    if coredump.enabled:
        mounts.append(_bind(PurePosixPath(coredump.path), coredump.core_path, "rw"))
    if host.platform != "darwin":
        socket = PurePosixPath(ctx.local.agent.ipc_base_path) / "container"
        mounts.append(
            _bind(socket / f"agent.{ctx.agent_id}.sock", "/opt/kernel/agent.sock", "rw")
        )
    return mounts


def _lxcfs_mounts(ctx: Context) -> list[Mount]:
    host = ctx.facts.host
    if not host.lxcfs:
        return []
    mounts = [
        _bind(LXCFS / "proc" / name, f"/proc/{name}", "rw") for name in host.lxcfs_proc
    ]
    cpu = "sys/devices/system/cpu"
    for present, path in (
        (host.lxcfs_cpu, cpu),
        (host.lxcfs_cpu_online, f"{cpu}/online"),
    ):
        if present:
            mounts.append(_bind(LXCFS / path, f"/{path}", "rw"))
    return mounts


def _proxies(ctx: Context, draft: Draft) -> list[Mount]:
    wanted = ctx.internal.domain_socket_proxies or ()
    tokens = ctx.facts.socket_proxy_tokens
    if len(tokens) < len(wanted):
        draft.fail(
            "unsupported",
            "facts.socket_proxy_tokens",
            f"{len(tokens)} of {len(wanted)}",
            f"one random token per {PROXIES} entry is needed to name its socket",
        )
        return []
    proxy_dir = PurePosixPath(ctx.local.agent.ipc_base_path) / "proxy"
    mounts = []
    for target, token in zip(wanted, tokens, strict=False):
        path = proxy_dir / f"{token}.sock"
        draft.add(ServeSocketProxy(path=path, target=target))
        # legacy mounts the proxy at the socket's path exactly as given
        mounts.append(
            Mount(type="bind", source=str(path), target=target, permission="rw")
        )
    return mounts


def _bind(source: PurePosixPath, target: str, permission: Permission) -> Mount:
    return Mount(
        type="bind",
        source=str(source),
        target=str(PurePosixPath(target)),
        permission=permission,
    )
