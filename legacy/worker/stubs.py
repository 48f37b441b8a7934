"""Stubs 1, 3, 4 and 5: the agent's surroundings that this path does not load.

Each stand-in answers exactly the calls legacy makes on this path and raises
``NotImplementedError`` on anything else, so an unexpected use fails loudly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .legacy_modules import Legacy
from .protocol import JSONObject, as_dict

DEFAULT_KNOWN_SLOT_TYPES: Mapping[str, str] = {"cpu": "count", "mem": "bytes"}


class UnusedDependency:
    """Placeholder for constructor arguments this path never uses (stub 4)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        msg = (
            f"kplan worker stub {self._name!r} has no {attr!r}: "
            "legacy used an unexpected dependency"
        )
        raise NotImplementedError(msg)


class _FakeVolumes:
    def __init__(self, names: Sequence[str]) -> None:
        self._names = list(names)

    async def list(self) -> JSONObject:
        return {"Volumes": [{"Name": name} for name in self._names]}


class FakeDockerClient:
    """Stands in for ``aiodocker.Docker`` inside the legacy module (stub 1)."""

    volume_names: Sequence[str] = ()

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self.volumes = _FakeVolumes(type(self).volume_names)

    async def close(self) -> None:
        return None

    def __getattr__(self, attr: str) -> Any:
        msg = (
            f"kplan worker: Docker.{attr} is not available "
            "(no Docker daemon may be contacted)"
        )
        raise NotImplementedError(msg)


def install_fake_docker(legacy: Legacy, volume_names: Sequence[str]) -> None:
    """Stub 1: legacy's ``Docker`` lists ``volume_names`` and does nothing else."""
    FakeDockerClient.volume_names = volume_names
    legacy.docker_agent_module.Docker = FakeDockerClient


class StubComputePlugin:
    """Device plugin stand-in: only what prepare_container calls (stub 3)."""

    def __init__(
        self,
        device: str,
        slot_types: Sequence[tuple[Any, Any]],
        resource_data: Mapping[str, Any],
    ) -> None:
        self.key = device
        self.slot_types = list(slot_types)
        self._resource_data = {str(k): str(v) for k, v in resource_data.items()}

    async def generate_resource_data(
        self, device_alloc: Mapping[Any, Any]
    ) -> Mapping[str, str]:
        del device_alloc  # the context already carries the plugin's answer
        return dict(self._resource_data)

    def __getattr__(self, attr: str) -> Any:
        msg = f"kplan worker: device plugin {self.key!r} stub has no {attr!r}"
        raise NotImplementedError(msg)


def install_known_slot_types(
    legacy: Legacy, resource_spec: Mapping[str, Any]
) -> dict[str, str]:
    """Stub 5: fill legacy's global ``known_slot_types`` in place."""
    slot_types = dict(
        as_dict(resource_spec.get("known_slot_types")) or DEFAULT_KNOWN_SLOT_TYPES
    )
    target = legacy.resources_module.known_slot_types
    target.clear()
    target.update(
        {legacy.SlotName(k): legacy.SlotTypes(v) for k, v in slot_types.items()}
    )
    return slot_types


def build_computers(
    legacy: Legacy, context: Mapping[str, Any], slot_types: Mapping[str, str]
) -> dict[str, Any]:
    """Stub 3: one ComputerContext per allocated device / device with resource_data."""
    spec = as_dict(context.get("resource_spec"))
    resource_data = as_dict(context.get("resource_data"))
    devices = [
        *as_dict(spec.get("allocations")),
        *(d for d in resource_data if d not in as_dict(spec.get("allocations"))),
    ]
    computers = {}
    for device in devices:
        owned = [
            (legacy.SlotName(slot), legacy.SlotTypes(kind))
            for slot, kind in slot_types.items()
            if slot == device or slot.startswith(f"{device}.")
        ]
        plugin = StubComputePlugin(device, owned, as_dict(resource_data.get(device)))
        computers[device] = legacy.ComputerContext(
            instance=plugin, devices=[], alloc_map=None
        )
    return computers
