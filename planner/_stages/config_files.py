"""``config/environ.txt`` and ``config/resource.txt`` (§12.1, §12.2).

New kernels only; a restart keeps the previous files (§15). environ.txt is one
``KEY=VALUE`` line per environ item in order, then one line per accelerator
``Env`` string. resource.txt is ``KernelResourceSpec.write_to_string`` followed by
each device plugin's ``generate_resource_data`` lines; both use the umask mode and
are never chowned.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import orjson
from returns.result import Result

from .._binary_size import format_binary_size
from .._context import Context, Mount, ResourceSpec
from .._layout import config_dir, new_file_mode
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["config_files", "environ_txt", "resource_txt"]

STAGE = "config-files"


def config_files(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the environ.txt and resource.txt writes of ``prepare_container`` (§12)."""
    draft = Draft(ctx, up, STAGE)
    if not ctx.restarting:
        mode = new_file_mode(ctx)
        draft.write(config_dir(ctx) / "environ.txt", environ_txt(ctx), mode)
        text = resource_txt(ctx.resource_spec, up.mounts, ctx.resource_data)
        if text is None:
            draft.fail(
                "crash",
                "resource_spec.allocations",
                "slot names",
                "a slot is not prefixed by its device name: legacy raises ValueError",
            )
        else:
            draft.write(config_dir(ctx) / "resource.txt", text, mode)
    return draft.result()


def environ_txt(ctx: Context) -> bytes:
    """environ.txt bytes (§12.1)."""
    lines = [f"{key}={value}\n" for key, value in ctx.environ]
    lines += [f"{item}\n" for item in ctx.computer_env]
    return "".join(lines).encode()


def resource_txt(
    spec: ResourceSpec,
    mounts: Iterable[Mount],
    resource_data: tuple[tuple[str, tuple[tuple[str, str], ...]], ...],
) -> bytes | None:
    """resource.txt bytes (§12.2), or ``None`` where legacy raises ValueError."""
    lines = [
        f"SCRATCH_SIZE={format_binary_size(spec.scratch_disk_size, 'm')}",
        "MOUNTS=" + ",".join(mount.legacy_str() for mount in mounts),
        "SLOTS=" + orjson.dumps(dict(spec.slots)).decode(),
        "UNIFIED_DEVICES="
        + orjson.dumps([list(p) for p in spec.unified_devices]).decode(),
    ]
    for device, slots in spec.allocations:
        for slot, per_device in slots:
            if not (slot.startswith(f"{device}.") or slot == device):
                return None
            pieces = [
                f"{dev}:{_amount(spec, slot, amount)}" for dev, amount in per_device
            ]
            lines.append(f"{slot.upper()}_SHARES={','.join(pieces)}")
    data = dict(resource_data)
    for device, _slots in spec.allocations:
        lines += [f"{key}={value}" for key, value in data.get(device, ())]
    return "".join(f"{line}\n" for line in lines).encode()


def _amount(spec: ResourceSpec, slot: str, amount: str) -> str:
    if spec.slot_type(slot) == "bytes":
        return format_binary_size(int(Decimal(amount)), "s")
    return amount
