"""What one stage derives and later stages read: the values the compiler threads.

Legacy passes these between its steps by mutating shared objects: the environ dict,
``resource_spec.mounts``, ``ctx.computer_docker_args``, the ``service_ports`` list
(legacy-behaviour.md §2). kplan threads them as one frozen ``Threaded`` value: each
stage returns a new one with the fields it owns set, and the compiler hands the
latest to the next stage. Which stage owns which field is the table below; a stage
reads only fields owned by stages before it.

==================  =====================  =====================================
field               set by                 read by
==================  =====================  =====================================
distro              image                  krunner-mounts, device-mounts
resource_spec       resource-spec          mounts, environ, config files, ...
resource_opts       resource-spec          container
mounts              intrinsic-mounts,      docker-mounts, config files, ...
                    vfolder-, krunner-,
                    device-mounts
docker_args         device-mounts          environ (Env), container
hooks               device-mounts          environ (LD_PRELOAD)
environ             environ                config files, kernel, container
allowed_syscalls    environ (B6)           container (seccomp)
service_ports       service-ports          kernel, host-ports, container
cmdargs             cmdargs                container
host_ports          host-ports             container
==================  =====================  =====================================

``THREADED_BY`` is the "set by" column as data (a test checks it against what the
stages really set): a stage plugin that declares it reads a field must sit after
a stage that sets it (``planner._custom_stages``). ``resource-spec`` also sets
``mounts`` on a restart (the stored resource.txt's, §15).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Literal, final

import attrs

from effects import EMPTY, JsonObject

from ._context import Allocations

__all__ = [
    "THREADED_BY",
    "Mount",
    "MountType",
    "Permission",
    "ResourceSpec",
    "ServicePort",
    "Threaded",
]

Permission = Literal["ro", "rw", "wd"]
MountType = Literal["bind", "volume", "tmpfs", "overlay", "k8s-generic", "k8s-hostpath"]
Pairs = tuple[tuple[str, str], ...]


@final
@attrs.frozen(kw_only=True)
class Mount:
    """One legacy ``Mount``: source and target as ``str(Path)``."""

    type: MountType
    source: str
    target: str
    permission: Permission
    opts: JsonObject | None = None

    def legacy_str(self) -> str:
        """Legacy's ``str(mount)``: ``<source>:<target>:<perm>`` (resource.txt)."""
        return f"{self.source}:{self.target}:{self.permission}"


@final
@attrs.frozen(kw_only=True)
class ResourceSpec:
    """``KernelResourceSpec``: amounts as ``str(Decimal)`` (§3, §12.2)."""

    slots: Pairs
    allocations: Allocations
    unified_devices: tuple[tuple[str, str], ...]
    scratch_disk_size: int = 0

    def device_list(self) -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
        """``device_list``: allocated slots with a positive sum, then unified ones."""
        views = [
            (device, slot, per_device)
            for device, slots in self.allocations
            for slot, per_device in slots
            if sum(Decimal(amount) for _, amount in per_device) > 0
        ]
        views += [(device, slot, ()) for device, slot in self.unified_devices]
        return tuple(views)


@final
@attrs.frozen(kw_only=True)
class ServicePort:
    """One ``ServicePort`` (B11): a name, a protocol and its ports."""

    name: str
    protocol: Literal["tcp", "http", "preopen", "internal", "vnc", "rdp"]
    container_ports: tuple[int, ...]
    host_ports: tuple[int | None, ...]
    is_inference: bool = False


@final
@attrs.frozen(kw_only=True)
class Threaded:
    """The values threaded between stages (see the module docstring)."""

    distro: str = ""
    resource_spec: ResourceSpec = ResourceSpec(
        slots=(), allocations=(), unified_devices=()
    )
    resource_opts: JsonObject | None = EMPTY
    mounts: tuple[Mount, ...] = ()
    docker_args: JsonObject = EMPTY
    hooks: tuple[str, ...] = ()
    environ: Pairs = ()
    allowed_syscalls: tuple[str, ...] = ()
    service_ports: tuple[ServicePort, ...] = ()
    cmdargs: tuple[str, ...] = ()
    host_ports: tuple[int, ...] = ()


THREADED_BY: Final[dict[str, tuple[str, ...]]] = {
    "distro": ("image",),
    "resource_spec": ("resource-spec",),
    "resource_opts": ("resource-spec",),
    "mounts": (
        "resource-spec",
        "intrinsic-mounts",
        "vfolder-mounts",
        "krunner-mounts",
        "device-mounts",
    ),
    "docker_args": ("device-mounts",),
    "hooks": ("device-mounts",),
    "environ": ("environ",),
    "allowed_syscalls": ("environ",),
    "service_ports": ("service-ports",),
    "cmdargs": ("cmdargs",),
    "host_ports": ("host-ports",),
}
