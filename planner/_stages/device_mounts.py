"""The compute devices' part of ``mount_krunner`` (§9.3), on new kernels only.

For each device view (an allocated slot with a positive sum, then each unified
slot) legacy merges the plugin's Docker arguments into ``computer_docker_args``
(cpu: ``Cpus`` and ``CpusetCpus``; mem: ``Memory`` and ``MemorySwap``), creates
``config/<device>`` (so every kernel gets ``config/cpu`` and ``config/mem``), lets
the plugin write its files there and mounts what it returns read-only, then mounts
each hook library not seen before at ``/opt/kernel/<name>`` (they join
``LD_PRELOAD``, threaded to the environ stage). A device with two positive slots is
visited twice, its arguments merged twice.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from returns.result import Result

from effects import freeze_object, thaw_object

from .._context import Context
from .._docker_merge import merge
from .._layout import below, config_dir, new_dir_mode, new_file_mode
from .._plugins import (
    INTRINSIC_SLOT_TYPES,
    PluginError,
    answers,
    device_mounts,
    docker_args,
    hooks,
    require_loaded,
)
from .._stage_api import Draft, Part, Upstream
from .._threaded import Mount
from ..errors import MergeError, PlanError

__all__ = ["device_mounts_stage"]

STAGE = "device-mounts"


def device_mounts_stage(
    ctx: Context, up: Upstream
) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the accelerator loop of ``mount_krunner`` (§9.3)."""
    draft = Draft(ctx, up, STAGE)
    if ctx.restarting:
        return draft.result()
    args: dict[str, object] = {}
    mounts, seen = list(up.mounts), []
    for device, slot, per_device in up.threaded.resource_spec.device_list():
        if not require_loaded(draft, device):
            continue
        try:
            args = merge(
                args, [thaw_object(docker_args(ctx, device, slot, per_device))]
            )
        except (PluginError, MergeError) as exc:
            # cpu's and mem's arguments come from the allocation, the others' from
            # their plugin's answers
            field = (
                f"resource_spec.allocations.{device}"
                if device in INTRINSIC_SLOT_TYPES
                else f"facts.devices.{device}.docker_args"
            )
            draft.fail("crash", field, device, str(exc))
        directory = below(config_dir(ctx), device)
        draft.mkdir(directory, new_dir_mode(ctx))
        _plugin_files(ctx, draft, device, directory)
        mounts += [
            Mount(type=m.mode, source=m.source, target=m.target, permission="ro")
            for m in device_mounts(ctx, device)
        ]
        for raw in hooks(ctx, device):
            hook = str(PurePosixPath(raw))
            if hook in seen:
                continue
            if not hook.startswith("/"):
                draft.fail(
                    "unsupported",
                    f"facts.devices.{device}.hooks",
                    hook,
                    "a relative hook path depends on the agent's working directory",
                )
                continue
            seen.append(hook)
            target = f"/opt/kernel/{PurePosixPath(hook).name}"
            mounts.append(
                Mount(type="bind", source=hook, target=target, permission="ro")
            )
    draft.thread(
        docker_args=freeze_object(args),
        mounts=tuple(mounts),
        hooks=tuple(f"/opt/kernel/{PurePosixPath(h).name}" for h in seen),
    )
    return draft.result()


def _plugin_files(
    ctx: Context, draft: Draft, device: str, directory: PurePosixPath
) -> None:
    facts = answers(ctx, device)
    if facts is None:
        return
    for name, item in facts.files.items():
        mode = new_file_mode(ctx) if item.mode is None else int(item.mode, 8)
        draft.write(below(directory, name), item.content, mode)
