"""The compute plugins' answers: cpu and mem modelled natively, others from facts.

Legacy asks each loaded compute plugin (``self.computers``) for its slot types,
Docker arguments, mounts, hooks, groups, syscalls, attached devices and
resource.txt lines (§9.3, §10, §12.2). The intrinsic ``cpu`` and ``mem`` plugins
answer from the allocation alone, so kplan computes their answers here; every
other plugin's answers for this kernel's allocation are facts
(``facts.devices``), which the agent passes and the legacy bridge replays.
"""

from __future__ import annotations

from decimal import Decimal

from effects import EMPTY, JsonObject, freeze_object

from ._context import Context
from ._facts import AttachedDevice, DeviceFacts, DeviceMount, SlotType
from ._stage_api import Draft

__all__ = [
    "INTRINSIC_SLOT_TYPES",
    "PluginError",
    "answers",
    "docker_args",
    "known_slot_types",
    "require_loaded",
]

INTRINSIC_SLOT_TYPES: dict[str, tuple[tuple[str, SlotType], ...]] = {
    "cpu": (("cpu", "count"),),
    "mem": (("mem", "bytes"),),
}
PerDevice = tuple[tuple[str, str], ...]


DOCKER_INT_MAX = 2**63 - 1  # the create body's integers are Go int64s


class PluginError(ValueError):
    """Where a plugin raises for this allocation (an id that is not a core number)."""


def answers(ctx: Context, device: str) -> DeviceFacts | None:
    """The facts' answers of plugin ``device``; ``None`` for cpu, mem and unknowns."""
    return ctx.facts.devices.get(device)


def slot_types(ctx: Context, device: str) -> tuple[tuple[str, SlotType], ...]:
    """``plugin.slot_types`` of ``device`` (empty for an unknown device)."""
    if device in INTRINSIC_SLOT_TYPES:
        return INTRINSIC_SLOT_TYPES[device]
    facts = answers(ctx, device)
    return () if facts is None else tuple(facts.slot_types.items())


def known_slot_types(ctx: Context) -> dict[str, SlotType]:
    """The global ``known_slot_types``: every loaded plugin's slots, in order."""
    known: dict[str, SlotType] = {}
    for device in ctx.devices:
        known.update(slot_types(ctx, device))
    return known


def docker_args(
    ctx: Context, device: str, slot: str, per_device: PerDevice
) -> JsonObject:
    """``generate_docker_args(docker, {slot: per_device})`` of ``device``."""
    if device == "cpu":
        try:
            cores = sorted(int(dev) for dev, _ in per_device)
        except ValueError as exc:
            raise PluginError(f"a cpu device id is not a core number: {exc}") from exc
        host = {"Cpus": len(cores), "CpusetCpus": ",".join(map(str, cores))}
        return freeze_object({"HostConfig": host})
    if device == "mem":
        memory = int(sum((Decimal(a) for _, a in per_device), Decimal(0)))
        if memory > DOCKER_INT_MAX:
            # Docker reads Memory as a 64-bit integer: the create is refused.
            raise PluginError(
                f"{memory} bytes of memory do not fit Docker's 64-bit Memory: "
                "legacy raises ContainerCreationFailedError (Docker refuses the create)"
            )
        return freeze_object({"HostConfig": {"MemorySwap": memory, "Memory": memory}})
    del slot  # the facts hold one answer for the plugin, whatever the slot
    facts = answers(ctx, device)
    return EMPTY if facts is None else facts.docker_args


def device_mounts(ctx: Context, device: str) -> tuple[DeviceMount, ...]:
    """``generate_mounts``: the plugin's mounts (none for cpu and mem)."""
    facts = answers(ctx, device)
    return () if facts is None else facts.mounts


def hooks(ctx: Context, device: str) -> tuple[str, ...]:
    """``get_hooks(distro, arch)``: libraries to preload (none for cpu and mem)."""
    facts = answers(ctx, device)
    return () if facts is None else facts.hooks


def additional_gids(ctx: Context, device: str) -> tuple[int, ...]:
    """``get_additional_gids()`` (none for cpu and mem)."""
    facts = answers(ctx, device)
    return () if facts is None else facts.additional_gids


def allowed_syscalls(ctx: Context, device: str) -> tuple[str, ...]:
    """``get_additional_allowed_syscalls()`` (none for cpu and mem)."""
    facts = answers(ctx, device)
    return () if facts is None else facts.allowed_syscalls


def attached_devices(ctx: Context, device: str) -> tuple[AttachedDevice, ...]:
    """``get_attached_devices(alloc)`` of an accelerator (the GPU variables, B10)."""
    facts = answers(ctx, device)
    return () if facts is None else facts.attached_devices


def resource_data(ctx: Context, device: str) -> tuple[tuple[str, str], ...]:
    """``generate_resource_data(alloc)``: resource.txt lines (none for cpu and mem)."""
    facts = answers(ctx, device)
    return () if facts is None else tuple(facts.resource_data.items())


def networks(ctx: Context, device: str) -> tuple[str, ...]:
    """``get_docker_networks(alloc)``: networks to attach after start (§14.5)."""
    facts = answers(ctx, device)
    return () if facts is None else facts.networks


def is_loaded(ctx: Context, device: str) -> bool:
    """True if the agent has a plugin for ``device`` (legacy indexes computers)."""
    return device in ctx.devices


def require_loaded(draft: Draft, device: str) -> bool:
    """``is_loaded``; if not, the stage fails as legacy does (``KeyError``)."""
    if is_loaded(draft.ctx, device):
        return True
    draft.fail(
        "crash",
        f"resource_spec.allocations.{device}",
        device,
        "no loaded plugin has this device: legacy raises KeyError",
    )
    return False
