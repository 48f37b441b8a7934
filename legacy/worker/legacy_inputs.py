"""What a ``DockerKernelCreationContext`` is built from, translated from the context.

The manager's kernel config gets neutral defaults for the fields the manager always
sends; ids that parse as UUIDs become ``UUID`` as in the agent; the resource spec's
mounts are the intrinsic ones plus the context's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from .agent_config import build_agent_config
from .legacy_modules import Legacy
from .protocol import as_dict
from .stubs import build_computers, install_known_slot_types

# what the manager always sends; the context's kernel_config overrides these
_KERNEL_CONFIG_DEFAULTS: Final[Mapping[str, Any]] = {
    "network_id": "",
    "auto_pull": "digest",
    "session_type": "interactive",
    "cluster_mode": "single-node",
    "cluster_role": "main",
    "cluster_idx": 1,
    "cluster_hostname": "main1",
    "local_rank": 0,
    "uid": None,
    "main_gid": None,
    "supplementary_gids": [],
    "resource_slots": {},
    "resource_opts": {},
    "environ": {},
    "mounts": [],
    "package_directory": [],
    "idle_timeout": 0,
    "bootstrap_script": None,
    "startup_command": None,
    "internal_data": None,
    "preopen_ports": [],
    "allocated_host_ports": [],
    "scaling_group": "default",
    "agent_addr": "",
    "endpoint_id": None,
    "owner_user_id": None,
    "owner_project_id": None,
}


@dataclass
class Inputs:
    """What a DockerKernelCreationContext is built from (shared by both phases)."""

    config: Any
    ownership: Any
    image_ref: Any
    kernel_config: dict[str, Any]
    cluster_info: dict[str, Any]
    computers: dict[str, Any]
    agent_sockpath: Path
    distro: str


def build_inputs(
    legacy: Legacy, context: Mapping[str, Any], scratch_root: Path, spare: Path
) -> Inputs:
    """All constructor inputs, built in this order (stubs 2, 3, 5 and 6 included)."""
    local_config = as_dict(context.get("local_config"))
    config = build_agent_config(legacy, local_config, scratch_root, spare)
    image = as_dict(context.get("image"))
    image_ref = build_image_ref(legacy, image)
    kernel_config = build_kernel_config(context, image_ref)
    ownership = _ownership(legacy, context, kernel_config)
    resource_spec = as_dict(context.get("resource_spec"))
    slot_types = install_known_slot_types(legacy, resource_spec)
    labels = as_dict(image.get("labels"))
    return Inputs(
        config=config,
        ownership=ownership,
        image_ref=image_ref,
        kernel_config=kernel_config,
        cluster_info=build_cluster_info(context),
        computers=build_computers(legacy, context, slot_types),
        agent_sockpath=Path(config.agent.ipc_base_path)
        / "container"
        / f"agent.{context['agent_id']}.sock",
        distro=str(labels.get("ai.backend.base-distro", "unknown")),  # stub 6
    )


def parse_kernel_id(value: str) -> Any:
    """Legacy receives ids as UUIDs (``KernelId(UUID(...))``); others stay verbatim."""
    try:
        return UUID(value)
    except ValueError:
        return value


def _ownership(
    legacy: Legacy, context: Mapping[str, Any], kernel_config: Mapping[str, Any]
) -> Any:
    return legacy.KernelOwnershipData(
        parse_kernel_id(context["kernel_id"]),
        parse_kernel_id(context["session_id"]),
        context["agent_id"],
        owner_user_id=kernel_config.get("owner_user_id"),
        owner_project_id=kernel_config.get("owner_project_id"),
    )


def build_image_ref(legacy: Legacy, image: Mapping[str, Any]) -> Any:
    """The legacy ``ImageRef`` of the context's image (registry parsed when absent)."""
    canonical = image["canonical"]
    registry = image.get("registry")
    if isinstance(registry, Mapping):
        registry = registry.get("name")
    if not registry:
        registry = legacy.ImageRef.parse_image_str(canonical, "*").registry
    return legacy.ImageRef.from_image_str(
        canonical,
        image.get("project"),
        registry,
        architecture=image.get("architecture", "x86_64"),
        is_local=bool(image.get("is_local", False)),
    )


def build_kernel_config(context: Mapping[str, Any], image_ref: Any) -> dict[str, Any]:
    """The manager's kernel config, with neutral defaults for fields it always sends."""
    config: dict[str, Any] = copy.deepcopy(dict(_KERNEL_CONFIG_DEFAULTS))
    config.update(copy.deepcopy(dict(as_dict(context.get("kernel_config")))))
    config["kernel_id"] = context["kernel_id"]
    config["session_id"] = context["session_id"]
    image = as_dict(context.get("image"))
    config["image"] = _image_config(image, image_ref, config["auto_pull"])
    return config


def _image_config(
    image: Mapping[str, Any], image_ref: Any, auto_pull: Any
) -> dict[str, Any]:
    registry = image.get("registry")
    if not isinstance(registry, Mapping):
        registry = {"name": image_ref.registry, "url": f"https://{image_ref.registry}"}
    return {
        "canonical": image["canonical"],
        "project": image.get("project"),
        "architecture": image_ref.architecture,
        "digest": image.get("digest", ""),
        "repo_digest": image.get("repo_digest"),
        "registry": dict(registry),
        "labels": dict(as_dict(image.get("labels"))),
        "is_local": bool(image.get("is_local", False)),
        "auto_pull": auto_pull,
    }


def build_cluster_info(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context's cluster_info with single-node defaults."""
    info = copy.deepcopy(dict(as_dict(context.get("cluster_info"))))
    info.setdefault("mode", "single-node")
    info.setdefault("size", 1)
    info.setdefault("replicas", {})
    info.setdefault("network_config", {})
    info.setdefault("ssh_keypair", None)
    info.setdefault("cluster_ssh_port_mapping", None)
    return info


def build_mount(legacy: Legacy, item: Mapping[str, Any]) -> Any:
    """A legacy ``Mount`` from one context mount (bind, read-only by default)."""
    source = item.get("source")
    return legacy.Mount(
        legacy.MountTypes(item.get("type", "bind")),
        Path(source) if source is not None else None,
        Path(item["target"]),
        legacy.MountPermission(item.get("permission", "ro")),
        item.get("opts"),
    )


def build_resource_spec(
    legacy: Legacy,
    context: Mapping[str, Any],
    kernel_config: Mapping[str, Any],
    intrinsic: Sequence[Any],
) -> Any:
    """KernelResourceSpec from context.resource_spec; mounts: intrinsic + context's."""
    spec = as_dict(context.get("resource_spec"))
    slots = spec.get("slots", kernel_config.get("resource_slots", {}))
    allocations = _allocations(legacy, as_dict(spec.get("allocations")))
    mounts = [
        *intrinsic,
        *(build_mount(legacy, as_dict(m)) for m in context.get("mounts") or []),
    ]
    return legacy.KernelResourceSpec(
        slots=legacy.ResourceSlot.from_json(slots),
        allocations=allocations,
        scratch_disk_size=int(spec.get("scratch_disk_size", 0)),
        mounts=mounts,
        unified_devices=[
            (d, legacy.SlotName(s)) for d, s in spec.get("unified_devices") or []
        ],
    )


def _allocations(legacy: Legacy, allocations: Mapping[str, Any]) -> dict[str, Any]:
    """device -> slot -> device id -> Decimal amount."""
    return {
        device: {
            legacy.SlotName(slot): {
                device_id: Decimal(str(amount))
                for device_id, amount in as_dict(per_device).items()
            }
            for slot, per_device in as_dict(per_slot).items()
        }
        for device, per_slot in allocations.items()
    }
