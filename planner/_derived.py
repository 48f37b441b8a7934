"""Values legacy derives from its inputs, computed once, the way legacy computes them.

Paths (legacy-contract §1.1) come in two forms: relative to the scratch root for
effects, and absolute host paths for what legacy writes into files and container
configs (mount sources, resource.txt). ``owner`` is the §1.3 ownership rule that
scratch, ssh, bootstrap, container-ssh and dotfiles share.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from effects import Chown

from ._context import Context, Mount, Permission

__all__ = [
    "DEEPLEARNING_KEYS",
    "all_mounts",
    "config_dir",
    "host_path",
    "intrinsic_mounts",
    "new_dir_mode",
    "new_file_mode",
    "own",
    "owner",
    "scratch_dir",
    "tmp_dir",
    "work_dir",
]

DEEPLEARNING_KEYS = ("tensorflow", "caffe", "keras", "torch", "mxnet", "theano")
SAMPLES_VOLUME = "deeplearning-samples"


def scratch_dir(ctx: Context) -> PurePosixPath:
    """``scratch_root/<kernel_id>``, relative to the scratch root."""
    return PurePosixPath(ctx.kernel_id)


def tmp_dir(ctx: Context) -> PurePosixPath:
    """``scratch_root/<kernel_id>_tmp`` (memory scratch only)."""
    return PurePosixPath(f"{ctx.kernel_id}_tmp")


def config_dir(ctx: Context) -> PurePosixPath:
    """``scratch_dir/config``, mounted at ``/home/config``."""
    return scratch_dir(ctx) / "config"


def work_dir(ctx: Context) -> PurePosixPath:
    """``scratch_dir/work``, mounted at ``/home/work``."""
    return scratch_dir(ctx) / "work"


def host_path(ctx: Context, relative: PurePosixPath) -> PurePosixPath:
    """The absolute host path legacy uses (it resolves the scratch root first)."""
    root = ctx.facts.scratch_root_resolved or ctx.local.scratch_root
    return root / relative


def new_file_mode(ctx: Context) -> int:
    """The mode ``open()`` gives a new file under the agent's umask."""
    return 0o666 & ~ctx.facts.umask


def new_dir_mode(ctx: Context) -> int:
    """The mode ``mkdir()`` gives a new directory under the agent's umask."""
    return 0o777 & ~ctx.facts.umask


def owner(ctx: Context) -> tuple[int | None, int | None] | None:
    """The §1.3 ownership rule: (uid, gid) to chown to, ``None`` sides kept.

    Returns ``None`` when legacy does not chown at all (not root, or no override
    and no ``uid-match``).
    """
    if not ctx.facts.is_root:
        return None
    uid, gid = ctx.kernel_config.uid, ctx.kernel_config.main_gid
    kernel = (ctx.local.kernel_uid, ctx.local.kernel_gid)
    if uid is None and gid is None:
        return kernel if ctx.uid_match else None
    if ctx.uid_match:
        return (kernel[0] if uid is None else uid, kernel[1] if gid is None else gid)
    return (uid, gid)


def own(ctx: Context, paths: Iterable[PurePosixPath]) -> list[Chown]:
    """OWN(paths) (§1.3) as effects, in the order legacy chowns."""
    target = owner(ctx)
    if target is None:
        return []
    return [Chown(path=path, uid=target[0], gid=target[1]) for path in paths]


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
