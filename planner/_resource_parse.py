"""Context sections about resources: environ, resource spec, mounts, plugin data.

``environ`` is the final environ given to ``prepare_container``; a context without
one gets ``kernel_config.environ`` plus ``LOCAL_USER_ID``/``LOCAL_GROUP_ID`` by
§2.1 rows 2-3. The resource spec keeps allocation and slot order,
since resource.txt follows it (§12.2); amounts become ``str(Decimal(...))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from effects import Invalid, Reader, freeze_object

from ._context import (
    Image,
    KernelConfig,
    LocalConfig,
    Mount,
    ResourceSpec,
    is_permission,
)
from ._field_readers import amount, ordered_text_map, text

__all__ = ["environ_of", "mounts_of", "resource_data_of", "resource_spec_of"]

MOUNT_TYPES = ("bind", "volume", "tmpfs", "overlay", "k8s-generic", "k8s-hostpath")
PERMISSIONS = ("ro", "rw", "wd")
DEFAULT_SLOT_TYPES = (("cpu", "count"), ("mem", "bytes"))
SLOT_TYPES = ("count", "bytes", "unique")


def environ_of(
    doc: Reader, config: KernelConfig, local: LocalConfig, image: Image
) -> tuple[tuple[str, str], ...]:
    """The context's ``environ``, or the §2.1 default when absent."""
    if doc.has("environ") and doc.optional("environ") is not None:
        return ordered_text_map(doc, "environ")
    environ = dict(config.environ)
    uid_match = "uid-match" in image.features
    if config.uid is not None:
        environ["LOCAL_USER_ID"] = str(config.uid)
    elif uid_match:
        environ["LOCAL_USER_ID"] = str(local.kernel_uid)
    if config.main_gid is not None:
        environ["LOCAL_GROUP_ID"] = str(config.main_gid)
    elif uid_match:
        environ["LOCAL_GROUP_ID"] = str(local.kernel_gid)
    return tuple(environ.items())


def resource_spec_of(
    doc: Reader, config: KernelConfig, *, strict: bool
) -> ResourceSpec:
    """The ``resource_spec`` section (slots default to the kernel_config's)."""
    spec = Reader(doc.optional("resource_spec") or {}, doc.field("resource_spec"))
    if spec.has("slots"):
        slots = _amounts(spec, "slots")
    else:
        slots = tuple(
            (k, amount(v, f"kernel_config.resource_slots.{k}"))
            for k, v in config.resource_slots
        )
    result = ResourceSpec(
        slots=slots,
        allocations=_allocations(spec),
        unified_devices=_pairs(spec, "unified_devices"),
        scratch_disk_size=spec.integer("scratch_disk_size", 0)
        if spec.has("scratch_disk_size")
        else 0,
        known_slot_types=_slot_types(spec),
    )
    if strict:
        spec.done()
    return result


def _amounts(reader: Reader, key: str) -> tuple[tuple[str, str], ...]:
    value = reader.raw(key)
    if not isinstance(value, Mapping):
        reader.fail(key, "expected an object of amounts")
    field = reader.field(key)
    return tuple(
        (str(k), amount(v, f"{field}.{k}")) for k, v in value.items() if v is not None
    )


def _allocations(
    spec: Reader,
) -> tuple[tuple[str, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]], ...]:
    value = spec.optional("allocations") or {}
    if not isinstance(value, Mapping):
        spec.fail("allocations", "expected {device: {slot: {device_id: amount}}}")
    devices = []
    for device, slots in value.items():
        where = f"{spec.field('allocations')}.{device}"
        slot_reader = Reader(slots, where)
        devices.append(
            (
                str(device),
                tuple(
                    (str(slot), _amounts(slot_reader, str(slot)))
                    for slot in dict(slots)
                ),
            )
        )
    return tuple(devices)


def _pairs(spec: Reader, key: str) -> tuple[tuple[str, str], ...]:
    if not spec.has(key):
        return ()
    pairs = []
    for index, item in enumerate(spec.array(key)):
        match item:
            case [str(device), str(slot)]:
                pairs.append((device, slot))
            case _:
                spec.fail(f"{key}[{index}]", "expected [device, slot]")
    return tuple(pairs)


def _slot_types(spec: Reader) -> tuple[tuple[str, str], ...]:
    if not spec.has("known_slot_types"):
        return DEFAULT_SLOT_TYPES
    types = ordered_text_map(spec, "known_slot_types")
    for slot, kind in types:
        if kind not in SLOT_TYPES:
            spec.fail(
                f"known_slot_types.{slot}", f"{kind!r} is not one of {SLOT_TYPES}"
            )
    return types


def mounts_of(doc: Reader, *, strict: bool) -> tuple[Mount, ...]:
    """The resolved vfolder/krunner/accelerator mounts, in order."""
    if doc.optional("mounts") is None:
        doc.has("mounts")
        return ()
    return tuple(
        _mount(Reader(item, f"mounts[{index}]"), strict=strict)
        for index, item in enumerate(doc.array("mounts"))
    )


def _mount(item: Reader, *, strict: bool) -> Mount:
    kind = text(item, "type", "bind")
    if kind not in MOUNT_TYPES:
        item.fail("type", f"{kind!r} is not one of {', '.join(MOUNT_TYPES)}")
    permission = text(item, "permission", "ro")
    if not is_permission(permission):
        item.fail("permission", f"{permission!r} is not one of ro, rw, wd")
    source = item.opt_text("source")
    opts = item.optional("opts")
    if opts is not None and not isinstance(opts, Mapping):
        item.fail("opts", "expected an object or null")
    mount = Mount(
        type=kind,
        source="None" if source is None else str(PurePosixPath(source)),
        target=str(PurePosixPath(text(item, "target"))),
        permission=permission,
        opts=None if opts is None else freeze_object(opts),
    )
    if strict:
        item.done()
    return mount


def resource_data_of(
    doc: Reader,
) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Per device, the ``k=v`` lines its plugin adds to resource.txt (§12.2 step 6)."""
    value = doc.optional("resource_data") or {}
    if not isinstance(value, Mapping):
        doc.fail("resource_data", "expected {device: {key: value}}")
    reader = Reader(value, doc.field("resource_data"))
    result = tuple(
        (str(device), ordered_text_map(reader, str(device))) for device in value
    )
    if any(not isinstance(v, Mapping) for v in value.values()):
        raise Invalid(doc.field("resource_data"), "each device maps keys to strings")
    return result
