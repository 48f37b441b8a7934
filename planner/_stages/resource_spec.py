"""The resource spec: the requested slots, normalised (§2 A8, §3, §12.3).

A new kernel's slots come from ``kernel_config.resource_slots``: ``cpu`` and ``mem``
are required, a slot no loaded plugin knows must be zero (``UnsupportedResource``),
unknown slots are dropped and every known slot left out is added as ``0``. The
allocation is the agent's (``resource_spec.allocations``), in ``allocate()``'s
order: every device of a slot, sorted by ``resource.allocation_order``, a device
the kernel requested nothing of with an empty allocation (§6). A restart reads
all of it back from the previous run's ``config/resource.txt`` instead, mounts
included, and has no resource options. Either way ``unified_devices`` lists every loaded
plugin's slots of type ``unified``.
"""

from __future__ import annotations

from decimal import Decimal

from returns.result import Result

from .._context import Allocations, Context
from .._layout import below, config_dir
from .._plugins import known_slot_types, slot_types
from .._resource_txt import read_resource_txt
from .._stage_api import Draft, Part, Upstream
from .._threaded import ResourceSpec
from ..errors import PlanError

__all__ = ["resource_spec"]

STAGE = "resource-spec"
FIELD = "kernel_config.resource_slots"


def resource_spec(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``generate_resource_spec()`` (§2 A8)."""
    draft = Draft(ctx, up, STAGE)
    unified = tuple(
        (device, slot)
        for device in ctx.devices
        for slot, kind in slot_types(ctx, device)
        if kind == "unified"
    )
    if ctx.restarting:
        _restored(ctx, draft, unified)
    else:
        slots = _normalised(ctx, draft)
        spec = ResourceSpec(
            slots=slots,
            allocations=_allocations(ctx, draft, slots),
            unified_devices=unified,
        )
        draft.thread(resource_spec=spec, resource_opts=ctx.kernel_config.resource_opts)
    return draft.result()


def _normalised(ctx: Context, draft: Draft) -> tuple[tuple[str, str], ...]:
    requested = {
        name: Decimal(value if isinstance(value, int | float) else str(value))
        for name, value in ctx.kernel_config.resource_slots.items()
        if value is not None
    }
    for required in ("cpu", "mem"):
        if required not in requested:
            draft.fail(
                "crash",
                FIELD,
                "(no " + required + ")",
                f"legacy raises UnsupportedResource('{required} slot is required')",
            )
    known = known_slot_types(ctx)
    for name, amount in requested.items():
        if name not in known and amount != 0:
            draft.fail(
                "crash",
                f"{FIELD}.{name}",
                str(amount),
                "no loaded plugin has this slot: legacy raises UnsupportedResource",
            )
    kept = [(name, str(amount)) for name, amount in requested.items() if name in known]
    # Legacy appends the missing known slots in set order (random per process,
    # H22); kplan uses the plugins' order, and the diff compares SLOTS as an object.
    kept += [(name, "0") for name in known if name not in requested]
    return tuple(kept)


def _allocations(
    ctx: Context, draft: Draft, slots: tuple[tuple[str, str], ...]
) -> Allocations:
    """``allocate()``'s result: every device of a slot, in ``allocation_order``.

    The amounts are the agent's allocation; a device the kernel requested nothing
    of still gets an (empty) entry, as legacy's alloc maps give it.
    """
    order = ctx.local.resource.allocation_order
    devices = {name.split(".", 1)[0] for name, _ in slots}
    for device in sorted(devices - set(order)):
        draft.fail(
            "crash",
            "local_config.resource.allocation_order",
            device,
            "a requested device is not in the allocation order: legacy raises "
            "ValueError",
        )
    given = ctx.allocation_map
    for device in sorted(set(given) - devices):
        draft.fail(
            "unsupported",
            f"resource_spec.allocations.{device}",
            device,
            "an allocation for a device the kernel requested no slot of",
        )
    ordered = sorted(devices & set(order), key=order.index)
    return tuple((device, given.get(device, ())) for device in ordered)


def _restored(ctx: Context, draft: Draft, unified: tuple[tuple[str, str], ...]) -> None:
    path = below(config_dir(ctx), "resource.txt")
    data = draft.up.content(path)
    if data is None:
        draft.fail(
            "crash",
            f"facts.scratch.{path}",
            "missing",
            "a restart reads the previous resource.txt: legacy raises "
            "FileNotFoundError",
        )
        return
    restored, problem = read_resource_txt(
        data.decode("utf-8", "replace"), known_slot_types(ctx)
    )
    if restored is None:
        draft.fail("crash", f"facts.scratch.{path}", "content", str(problem))
        return
    spec, mounts = restored
    spec = ResourceSpec(
        slots=spec.slots,
        allocations=spec.allocations,
        unified_devices=unified,
        scratch_disk_size=spec.scratch_disk_size,
    )
    draft.thread(resource_spec=spec, resource_opts=None, mounts=mounts)
