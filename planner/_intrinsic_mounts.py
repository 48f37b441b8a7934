"""The mounts every new kernel gets before any other (legacy-behaviour.md §5).

``get_intrinsic_mounts`` decides them from the scratch layout, the host probes in
the facts and the agent's config; the compiler puts them first in the mount list
(§11).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ._context import Context, Mount, Permission
from ._layout import config_dir, host_path, tmp_dir, work_dir

__all__ = ["DEEPLEARNING_KEYS", "all_mounts", "intrinsic_mounts"]

DEEPLEARNING_KEYS = ("tensorflow", "caffe", "keras", "torch", "mxnet", "theano")
SAMPLES_VOLUME = "deeplearning-samples"


def intrinsic_mounts(ctx: Context) -> list[Mount]:
    """``get_intrinsic_mounts()`` from the facts (§5, rows 1-10)."""
    host, linux = ctx.facts.host, ctx.facts.host.platform.startswith("linux")
    mounts = [
        _bind(host_path(ctx, config_dir(ctx)), "/home/config", "ro"),
        _bind(host_path(ctx, work_dir(ctx)), "/home/work", "rw"),
    ]
    if linux and ctx.local.scratch_type == "memory":
        mounts.append(_bind(host_path(ctx, tmp_dir(ctx)), "/tmp", "rw"))  # noqa: S108
    for present, path in (
        (host.etc_localtime, "/etc/localtime"),
        (host.etc_timezone, "/etc/timezone"),
    ):
        if linux and present:
            mounts.append(_bind(PurePosixPath(path), path, "ro"))
    mounts += _lxcfs_mounts(ctx)
    if SAMPLES_VOLUME in ctx.facts.docker_volumes and any(
        key in ctx.image.short for key in DEEPLEARNING_KEYS
    ):
        mounts.append(
            Mount(
                type="volume",
                source=SAMPLES_VOLUME,
                target="/home/work/samples",
                permission="ro",
                opts=None,
            )
        )
    if ctx.local.coredump_enabled:
        mounts.append(
            _bind(
                PurePosixPath(ctx.local.coredump_path),
                ctx.local.coredump_core_path,
                "rw",
            )
        )
    if host.platform != "darwin":
        socket = ctx.local.ipc_base_path / "container" / f"agent.{ctx.agent_id}.sock"
        mounts.append(_bind(socket, "/opt/kernel/agent.sock", "rw"))
    return mounts


def _lxcfs_mounts(ctx: Context) -> list[Mount]:
    host = ctx.facts.host
    if not host.lxcfs:
        return []
    root = PurePosixPath("/var/lib/lxcfs")
    mounts = [
        _bind(root / "proc" / name, f"/proc/{name}", "rw") for name in host.lxcfs_proc
    ]
    cpu = "sys/devices/system/cpu"
    for present, path in (
        (host.lxcfs_cpu, cpu),
        (host.lxcfs_cpu_online, f"{cpu}/online"),
    ):
        if present:
            mounts.append(_bind(root / path, f"/{path}", "rw"))
    return mounts


def _bind(source: PurePosixPath, target: str, permission: Permission) -> Mount:
    return Mount(
        type="bind",
        source=str(source),
        target=str(PurePosixPath(target)),
        permission=permission,
        opts=None,
    )


def all_mounts(ctx: Context) -> list[Mount]:
    """``resource_spec.mounts`` of a new kernel: intrinsic, then resolved (§11)."""
    return [*intrinsic_mounts(ctx), *ctx.mounts]
