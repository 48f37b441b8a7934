"""Stubs 3 and 4: the agent's compute plugins and alloc maps, driven by the context.

Theory of operation
-------------------
``computers`` is ``cpu`` and ``mem`` first, the real intrinsic plugin classes
(``CPUPlugin``, ``MemoryPlugin``: none of the methods this path calls needs Docker
or ``init()``), then one ``FactsComputePlugin`` per ``facts.devices`` entry, in
order, answering what the facts say the real plugin answers for this allocation.
Each ``ComputerContext`` carries an ``AllocationAnswer`` alloc map: the real
``allocate()`` (device order from ``resource.allocation_order``, zero-requested
devices, rollback on ``ResourceError``) runs and asks each map for its device's
share; the map answers ``resource_spec.allocations[device]`` of the context
(amounts ``Decimal(str(amount))``, order kept; ``{}`` for a device the context does
not list). Allocation is stateful on a real agent (alloc maps, affinity), so the
context carries its result (docs/context.md). The global ``known_slot_types`` is
filled in place from every computer's ``slot_types``, as the agent does at start.
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .legacy_modules import Legacy
from .protocol import JSONObject, as_dict, to_jsonable

INTRINSIC_DEVICES = ("cpu", "mem")


@dataclass(frozen=True)
class StandInDevice:
    """A compute device as ``allocate()`` reads it: only its id (affinity hints)."""

    device_id: str


@dataclass
class AllocationAnswer:
    """An alloc map that hands out the context's allocation for its device (stub 4).

    ``allocations`` exists because ``allocate()`` deep-copies it for its rollback;
    ``free`` (``start_container``'s rollback) is recorded in ``calls``.
    """

    device: str
    answer: Mapping[Any, Mapping[Any, Decimal]]
    calls: list[JSONObject]
    allocations: dict[str, Any] = field(default_factory=dict)

    def allocate(self, slots: Mapping[Any, Decimal], **_hints: Any) -> Any:
        """The context's allocation for this device (a fresh copy)."""
        del slots
        return copy.deepcopy(dict(self.answer))

    def free(self, device_alloc: Mapping[Any, Any]) -> None:
        """Record a release (nothing is held)."""
        alloc = to_jsonable(dict(device_alloc))
        self.calls.append(
            {"call": "alloc_map.free", "device": self.device, "alloc": alloc}
        )


class FactsComputePlugin:
    """A device plugin answering ``facts.devices[<name>]`` (stub 3).

    Every method legacy calls on an accelerator plugin on this path (§9.3, §2 B6-B10,
    §12.2 step 6, §14.5); anything else raises ``NotImplementedError``.
    """

    def __init__(self, legacy: Legacy, name: str, answers: Mapping[str, Any]) -> None:
        self._legacy = legacy
        self._answers = answers
        self.key = name
        self.slot_types = [
            (legacy.SlotName(slot), legacy.SlotTypes(kind))
            for slot, kind in as_dict(answers.get("slot_types")).items()
        ]

    def _list(self, key: str) -> list[Any]:
        return list(self._answers.get(key) or [])

    async def generate_docker_args(
        self, docker: Any, device_alloc: Mapping[Any, Any]
    ) -> Mapping[str, Any]:
        del docker, device_alloc
        return copy.deepcopy(dict(as_dict(self._answers.get("docker_args"))))

    async def generate_mounts(
        self, source_path: Path, device_alloc: Mapping[Any, Any]
    ) -> list[Any]:
        """Write the facts' files into ``source_path``; return the facts' mounts."""
        del device_alloc
        for name, item in as_dict(self._answers.get("files")).items():
            entry = as_dict(item)
            target = source_path / name
            target.write_bytes(base64.b64decode(entry["content_base64"]))
            if entry.get("mode") is not None:
                os.chmod(target, int(str(entry["mode"]), 8))
        mount_info, mount_types = self._legacy.MountInfo, self._legacy.MountTypes
        return [
            mount_info(
                mount_types(as_dict(m).get("mode", "bind")),
                Path(as_dict(m)["source"]),
                Path(as_dict(m)["target"]),
            )
            for m in self._list("mounts")
        ]

    async def get_hooks(self, distro: str, arch: str) -> Sequence[Path]:
        del distro, arch
        return [Path(p) for p in self._list("hooks")]

    def get_additional_gids(self) -> list[int]:
        return [int(g) for g in self._list("additional_gids")]

    def get_additional_allowed_syscalls(self) -> list[str]:
        return [str(s) for s in self._list("allowed_syscalls")]

    async def get_attached_devices(
        self, device_alloc: Mapping[Any, Any]
    ) -> list[JSONObject]:
        del device_alloc
        return [
            {
                "device_id": as_dict(d)["device_id"],
                "model_name": as_dict(d)["model_name"],
                "data": dict(as_dict(as_dict(d).get("data"))),
            }
            for d in self._list("attached_devices")
        ]

    async def generate_resource_data(
        self, device_alloc: Mapping[Any, Any]
    ) -> Mapping[str, str]:
        del device_alloc
        return {
            str(k): str(v)
            for k, v in as_dict(self._answers.get("resource_data")).items()
        }

    async def get_docker_networks(self, device_alloc: Mapping[Any, Any]) -> list[str]:
        del device_alloc
        return [str(n) for n in self._list("networks")]

    def __getattr__(self, attr: str) -> Any:
        msg = f"kplan worker: device plugin {self.key!r} stand-in has no {attr!r}"
        raise NotImplementedError(msg)


def context_allocations(
    legacy: Legacy, context: Mapping[str, Any]
) -> dict[str, dict[Any, dict[Any, Decimal]]]:
    """``resource_spec.allocations`` as legacy types: device -> slot -> id -> amount."""
    spec = as_dict(context.get("resource_spec"))
    return {
        str(device): {
            legacy.SlotName(slot): {
                legacy.DeviceId(dev_id): Decimal(str(amount))
                for dev_id, amount in as_dict(per_device).items()
            }
            for slot, per_device in as_dict(per_slot).items()
        }
        for device, per_slot in as_dict(spec.get("allocations")).items()
    }


def build_computers(
    legacy: Legacy, context: Mapping[str, Any], calls: list[JSONObject]
) -> dict[str, Any]:
    """The agent's ``computers``: cpu, mem, then one per ``facts.devices`` entry.

    Also fills ``known_slot_types``; alloc-map releases are recorded in ``calls``.
    """
    allocations = context_allocations(legacy, context)
    devices = as_dict(as_dict(context.get("facts")).get("devices"))
    plugins: dict[str, Any] = {
        "cpu": legacy.CPUPlugin({}, {}),
        "mem": legacy.MemoryPlugin({}, {}),
    }
    for name, answers in devices.items():
        plugins[str(name)] = FactsComputePlugin(legacy, str(name), as_dict(answers))
    contexts: dict[str, Any] = {}
    for name, plugin in plugins.items():
        answer = allocations.get(name, {})
        amap = AllocationAnswer(device=name, answer=answer, calls=calls)
        ids = dict.fromkeys(dev for per_dev in answer.values() for dev in per_dev)
        contexts[name] = legacy.ComputerContext(
            instance=plugin,
            devices=[StandInDevice(device_id=dev) for dev in ids],
            alloc_map=amap,
        )
    install_known_slot_types(legacy, plugins.values())
    return contexts


def install_known_slot_types(legacy: Legacy, plugins: Any) -> None:
    """Stub 5: the global ``known_slot_types``, filled in place from the plugins."""
    target = legacy.resources_module.known_slot_types
    target.clear()
    for plugin in plugins:
        target.update(dict(plugin.slot_types))
