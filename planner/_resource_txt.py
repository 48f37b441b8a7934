"""``config/resource.txt``: how legacy writes it and how a restart reads it back.

Written (§12.2, ``KernelResourceSpec.write_to_string`` plus the plugins' lines):
``SCRATCH_SIZE`` in MiB, ``MOUNTS`` as ``source:target:perm`` joined by commas,
``SLOTS`` as compact JSON, ``UNIFIED_DEVICES``, one ``<SLOT>_SHARES`` line per
allocated slot (byte amounts in ``BinarySize`` text, others as decimals), then each
allocated device's ``generate_resource_data`` lines. Read back (§12.3): lines with
``=``, ``*_SHARES`` into allocations, ``MOUNTS`` into bind (absolute source) or
volume (one-part source) mounts without options. What legacy's reader raises on is
returned as its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import PurePosixPath
from typing import Any

import orjson

from ._binary_size import format_binary_size, parse_binary_size
from ._context import Allocations
from ._threaded import Mount, MountType, ResourceSpec

__all__ = ["RestoredSpec", "read_resource_txt", "resource_txt"]

RestoredSpec = tuple[ResourceSpec, tuple[Mount, ...]]


def resource_txt(
    spec: ResourceSpec,
    mounts: Iterable[Mount],
    plugin_lines: Iterable[tuple[str, str]],
    slot_types: Mapping[str, str],
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
                f"{dev}:{_amount(slot_types, slot, amount)}"
                for dev, amount in per_device
            ]
            lines.append(f"{slot.upper()}_SHARES={','.join(pieces)}")
    lines += [f"{key}={value}" for key, value in plugin_lines]
    return "".join(f"{line}\n" for line in lines).encode()


def _amount(slot_types: Mapping[str, str], slot: str, amount: str) -> str:
    if slot_types.get(slot, "count") == "bytes":
        return format_binary_size(int(Decimal(amount)), "s")
    return amount


def read_resource_txt(
    text: str, slot_types: Mapping[str, str]
) -> tuple[RestoredSpec, None] | tuple[None, str]:
    """The resource spec and mounts of a resource.txt, or why legacy raises."""
    pairs: dict[str, str] = {}
    for line in text.split("\n"):
        if "=" in line:
            key, value = line.strip().split("=", 1)
            pairs[key] = value
    header, problem = _header(pairs)
    if header is None:
        return None, problem
    scratch, slots, unified = header
    allocations, problem = _shares(pairs, slot_types)
    if allocations is None:
        return None, problem
    mounts = []
    for entry in (item for item in pairs["MOUNTS"].split(",") if item):
        mount, why = _mount(entry)
        if mount is None:
            return None, f"resource.txt MOUNTS entry {entry!r}: {why}"
        mounts.append(mount)
    spec = ResourceSpec(
        slots=tuple(
            (str(k), str(Decimal(str(v)))) for k, v in slots.items() if v is not None
        ),
        allocations=allocations,
        unified_devices=tuple((str(d), str(s)) for d, s in unified),
        scratch_disk_size=scratch,
    )
    return (spec, tuple(mounts)), None


def _header(
    pairs: Mapping[str, str],
) -> tuple[tuple[int, dict[str, Any], list[Any]], str] | tuple[None, str]:
    """SCRATCH_SIZE, SLOTS and UNIFIED_DEVICES, or why legacy raises on them."""
    for key in ("MOUNTS", "SCRATCH_SIZE", "SLOTS"):
        if key not in pairs:
            return None, f"resource.txt has no {key} line: legacy raises KeyError"
    scratch = parse_binary_size(pairs["SCRATCH_SIZE"])
    if scratch is None:
        return None, "resource.txt SCRATCH_SIZE is not a size: legacy raises ValueError"
    try:
        slots = orjson.loads(pairs["SLOTS"])
        unified = orjson.loads(pairs.get("UNIFIED_DEVICES") or "[]")
    except orjson.JSONDecodeError:
        return None, "resource.txt SLOTS or UNIFIED_DEVICES is not JSON: legacy raises"
    if not isinstance(slots, dict):
        return None, "resource.txt SLOTS is not a JSON object: legacy raises"
    return (scratch, slots, unified), ""


def _shares(
    pairs: Mapping[str, str], slot_types: Mapping[str, str]
) -> tuple[Allocations, str] | tuple[None, str]:
    devices: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {}
    for key, value in pairs.items():
        if not key.endswith("_SHARES"):
            continue
        slot = key.removesuffix("_SHARES").lower()
        per_device = []
        for entry in value.split(","):
            dev, _, raw = entry.partition(":")
            if not dev or not raw:
                continue
            amount = _restored(slot_types, slot, raw)
            if amount is None:
                return None, f"resource.txt {key} amount {raw!r}: legacy raises"
            per_device.append((dev, amount))
        devices.setdefault(slot.split(".")[0], {})[slot] = tuple(per_device)
    return tuple((d, tuple(s.items())) for d, s in devices.items()), ""


def _restored(slot_types: Mapping[str, str], slot: str, raw: str) -> str | None:
    if slot_types.get(slot, "count") == "bytes":
        size = parse_binary_size(raw)
        return None if size is None else str(Decimal(size))
    try:
        return str(Decimal(raw))
    except InvalidOperation:
        return None


def _mount(entry: str) -> tuple[Mount, None] | tuple[None, str]:
    fields = entry.split(":")
    if len(fields) != 3:  # noqa: PLR2004
        return None, "not <source>:<target>:<perm> (H21): legacy raises ValueError"
    source, target, permission = (
        PurePosixPath(fields[0]),
        PurePosixPath(fields[1]),
        fields[2],
    )
    kind: MountType
    if source.is_absolute():
        kind = "bind"
    elif len(source.parts) == 1:
        kind = "volume"
    else:
        return (
            None,
            "a relative source that is not a volume name: legacy raises ValueError",
        )
    if not target.is_absolute():
        return None, "a relative target: legacy raises ValueError"
    if permission not in ("ro", "rw", "wd"):
        return None, f"unknown permission {permission!r}: legacy raises ValueError"
    return Mount(
        type=kind,
        source=str(source),
        target=str(target),
        permission=permission,  # type: ignore[arg-type]  # checked just above
    ), None
