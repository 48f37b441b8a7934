"""What a restart reads back from the previous run's ``resource.txt`` (§12.3, §15).

On a restart legacy rebuilds the resource spec from ``config/resource.txt``; the
mount list then comes from its ``MOUNTS`` line, which keeps only source, target and
permission: absolute sources become ``bind``, one-part relative sources ``volume``,
and options are gone. Anything legacy's parser rejects is returned as the reason
legacy would crash.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import orjson

from ._binary_size import parse_binary_size
from ._context import Mount, is_permission

__all__ = ["parse_resource_txt"]


def parse_resource_txt(text: str) -> tuple[tuple[Mount, ...], None] | tuple[None, str]:
    """The mounts of a resource.txt, or why legacy's reader raises on it."""
    pairs: dict[str, str] = {}
    for line in text.split("\n"):
        if "=" in line:
            key, value = line.strip().split("=", 1)
            pairs[key] = value
    for key in ("MOUNTS", "SCRATCH_SIZE", "SLOTS"):
        if key not in pairs:
            return None, f"resource.txt has no {key} line: legacy raises KeyError"
    if parse_binary_size(pairs["SCRATCH_SIZE"]) is None:
        return None, "resource.txt SCRATCH_SIZE is not a size: legacy raises ValueError"
    try:
        slots = orjson.loads(pairs["SLOTS"])
    except orjson.JSONDecodeError:
        slots = None
    if not isinstance(slots, dict):
        return None, "resource.txt SLOTS is not a JSON object: legacy raises"
    mounts = []
    for entry in (item for item in pairs["MOUNTS"].split(",") if item):
        mount, problem = _mount(entry)
        if mount is None:
            return None, f"resource.txt MOUNTS entry {entry!r}: {problem}"
        mounts.append(mount)
    return tuple(mounts), None


def _mount(entry: str) -> tuple[Mount, None] | tuple[None, str]:
    fields = entry.split(":")
    if len(fields) != 3:  # noqa: PLR2004
        return None, "not <source>:<target>:<perm> (H21): legacy raises ValueError"
    source, target, permission = (
        PurePosixPath(fields[0]),
        PurePosixPath(fields[1]),
        fields[2],
    )
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
    if not is_permission(permission):
        return None, f"unknown permission {permission!r}: legacy raises ValueError"
    return Mount(
        type=kind,
        source=str(source),
        target=str(target),
        permission=permission,
        opts=None,
    ), None
