"""The kernel's environment, every row of §2.1 in legacy's order.

``create_kernel`` builds one environ dict as it goes and legacy writes it to
environ.txt, pickles it into kconfig.dat and gives it to the container. This stage
computes the same dict, in the same insertion order, from what the stages before
it threaded: the user's environ (row 1); ``LOCAL_USER_ID`` and ``LOCAL_GROUP_ID``
from the overrides or ``uid-match`` (rows 2-3; an overriding gid with
``uid-match`` adds the kernel gid to the supplementary groups); ``ADDITIONAL_GIDS``
(row 5, in the set's iteration order, H22); ``BACKENDAI_PERSISTENT_PATHS`` (row
6, even for vfolders ``prevent_vfolder_mounts`` left out, H30); ``LD_PRELOAD``
with the device hooks (row 7, new kernels only); the devices' extra groups (row 8)
and allowed syscalls (§10, threaded to the seccomp rule); the corecount label's
names (row 9, never overwriting; the cpu allocation is read even without the
label); the GPU variables from the first allocated
device that is not cpu or mem (row 10, H25); an inference session's model
variables (row 11).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import PurePosixPath

from returns.result import Result

from effects import JsonObject, thaw

from .._binary_size import SizeError, format_binary_size
from .._context import INTRINSIC_DEVICES, Context
from .._model_definition import model_definition
from .._plugins import (
    additional_gids,
    allowed_syscalls,
    attached_devices,
    require_loaded,
)
from .._python_int import python_int
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["environ", "update_additional_gids"]

STAGE = "environ"
BAIHOOK = "/opt/kernel/libbaihook.so"
CORECOUNT = "ai.backend.envs.corecount"


def environ(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the environ of ``create_kernel`` (§2.1 rows 1-11)."""
    draft = Draft(ctx, up, STAGE)
    env = _identity(ctx, draft)
    mounts = ctx.kernel_config.mounts
    if mounts:
        env["BACKENDAI_PERSISTENT_PATHS"] = ":".join(
            str(PurePosixPath(m.kernel_path)) for m in mounts
        )
    if not ctx.restarting:
        env["LD_PRELOAD"] = BAIHOOK + "".join(f":{h}" for h in up.threaded.hooks)
    syscalls = _device_groups(ctx, draft, env)
    _corecount(ctx, draft, env)
    _gpu(ctx, draft, env)
    _inference(ctx, env)
    draft.thread(environ=tuple(env.items()), allowed_syscalls=syscalls)
    return draft.result()


def update_additional_gids(env: dict[str, str], gids: Collection[int]) -> str | None:
    """Legacy's ``update_additional_gids``: a union, in set order; or why it raises."""
    if not gids:
        return None
    if original := env.get("ADDITIONAL_GIDS"):
        try:
            merged = {int(gid) for gid in original.split(",") if gid} | set(gids)
        except ValueError:
            return f"ADDITIONAL_GIDS={original!r} is not a list of integers"
    else:
        merged = set(gids)
    env["ADDITIONAL_GIDS"] = ",".join(map(str, merged))
    return None


def _identity(ctx: Context, draft: Draft) -> dict[str, str]:
    config = ctx.kernel_config
    env = dict(config.environ)
    if config.uid is not None:
        env["LOCAL_USER_ID"] = str(config.uid)
    elif ctx.uid_match:
        env["LOCAL_USER_ID"] = str(ctx.kernel_uid)
    groups = set(config.supplementary_gids)
    if config.main_gid is not None:
        env["LOCAL_GROUP_ID"] = str(config.main_gid)
        if ctx.uid_match:
            groups.add(ctx.kernel_gid)
    elif ctx.uid_match:
        env["LOCAL_GROUP_ID"] = str(ctx.kernel_gid)
    _gids(draft, env, groups)
    return env


def _gids(draft: Draft, env: dict[str, str], gids: Collection[int]) -> None:
    problem = update_additional_gids(env, gids)
    if problem is not None:
        draft.fail(
            "crash",
            "kernel_config.environ.ADDITIONAL_GIDS",
            env["ADDITIONAL_GIDS"],
            f"{problem}: legacy raises ValueError",
        )


def _device_groups(ctx: Context, draft: Draft, env: dict[str, str]) -> tuple[str, ...]:
    """``inject_additional_device_env_vars`` over every allocated device (B6)."""
    gids: set[int] = set()
    syscalls: set[str] = set()
    for device, _slots in draft.threaded.resource_spec.allocations:
        if not require_loaded(draft, device):
            continue
        gids.update(additional_gids(ctx, device))
        syscalls.update(allowed_syscalls(ctx, device))
    _gids(draft, env, list(gids))
    return tuple(sorted(syscalls))


def _corecount(ctx: Context, draft: Draft, env: dict[str, str]) -> None:
    """B7: legacy counts the allocated cores whether or not the label names any."""
    label = ctx.label(CORECOUNT)
    names = label.split(",") if label else []
    cpu = dict(dict(draft.threaded.resource_spec.allocations).get("cpu", ())).get("cpu")
    if cpu is None:
        draft.fail(
            "crash",
            "resource_spec.allocations.cpu",
            "missing",
            "create_kernel counts the cores of the cpu allocation (B7): legacy "
            "raises KeyError",
        )
        return
    for name in names:
        env.setdefault(name, str(len(cpu)))


def _gpu(ctx: Context, draft: Draft, env: dict[str, str]) -> None:
    """GPU variables from the first non-intrinsic allocated device (B10, H25)."""
    for device, _slots in draft.threaded.resource_spec.allocations:
        if device in INTRINSIC_DEVICES:
            continue
        attached = attached_devices(ctx, device)
        if attached:
            where = f"facts.devices.{device}.attached_devices"
            sizes: list[int] = []
            for attached_device in attached:
                size = _memory(attached_device.data)
                if isinstance(size, str):
                    reason = f"legacy's BinarySize() of a device's mem raises {size}"
                    draft.fail("crash", where, "mem", reason)
                    return
                sizes.append(size)
            try:
                config = [
                    f"{i}:{format_binary_size(m, 's')}" for i, m in enumerate(sizes)
                ]
            except SizeError as exc:
                draft.fail("crash", where, "mem", f"{exc}, printing GPU_CONFIG")
                return
            env["GPU_TYPE"] = device
            env["GPU_MODEL_NAME"] = attached[0].model_name
            env["GPU_CONFIG"] = ",".join(config)
            env["TF_GPU_MEMORY_ALLOC"] = ",".join(
                f"{i}:{m // 2**20}" for i, m in enumerate(sizes)
            )
        env["GPU_COUNT"] = env["N_GPUS"] = str(len(attached))
        return
    env["GPU_COUNT"] = env["N_GPUS"] = "0"


def _memory(data: JsonObject) -> int | str:
    """``BinarySize(data.get("mem", 0))``: ``BinarySize`` is an ``int``, so what
    ``int()`` makes of the value, or the exception it raises (``python_int``)."""
    return python_int(thaw(data.get("mem")) if "mem" in data else 0)


def _inference(ctx: Context, env: dict[str, str]) -> None:
    if ctx.kernel_config.session_type != "inference":
        return
    models = model_definition(ctx)
    if isinstance(models, tuple):  # errors are the service-ports stage's to report
        for model in models:
            env.setdefault("BACKEND_MODEL_NAME", model.name)
            env["BACKEND_MODEL_PATH"] = model.model_path
