"""process_mounts: one ``HostConfig.Mounts`` entry per mount (§11).

The mount list is threaded by the stages before: on a new kernel the intrinsic
mounts (§5), the vfolders (§9.1), the kernel runner's (§9.2) and the devices'
(§9.3); on a restart the ``MOUNTS`` line of the previous ``resource.txt`` (§12.3,
§15), which has lost the options and the non-bind/volume types. ``wd`` is
downgraded to read-write, and the options key is ``<Type.capitalize()>Options``
holding the options or ``{}``. Two mounts on one target make Docker refuse the
container ('Duplicate mount point'), refused here.
"""

from __future__ import annotations

from returns.result import Result

from effects import EMPTY, ContainerMount

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from .._threaded import Mount
from ..errors import PlanError

__all__ = ["container_mount", "docker_mounts"]

STAGE = "docker-mounts"


def docker_mounts(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``process_mounts(resource_spec.mounts)`` (§11)."""
    draft = Draft(ctx, up, STAGE)
    targets: set[str] = set()
    for index, mount in enumerate(up.mounts):
        field = f"resource_spec.mounts[{index}]"
        bad = [name for name in ("source", "target") if "\x00" in getattr(mount, name)]
        for name in bad:
            draft.fail(
                "hazard",
                f"{field}.{name}",
                repr(getattr(mount, name)),
                "a NUL byte in a path makes legacy raise ValueError",
            )
        if mount.target in targets:
            draft.fail(
                "conflict",
                f"{field}.target",
                mount.target,
                "two mounts share this target: Docker refuses the container "
                "('Duplicate mount point')",
            )
        targets.add(mount.target)
        if not bad and mount.target.startswith("/"):
            draft.add(container_mount(mount))
        elif not bad:
            draft.fail(
                "crash",
                f"{field}.target",
                repr(mount.target),
                "not an absolute path: Docker refuses the container's mounts",
            )
    return draft.result()


def container_mount(mount: Mount) -> ContainerMount:
    """The ``HostConfig.Mounts`` entry legacy builds for ``mount``."""
    return ContainerMount(
        type=mount.type,
        source=mount.source,
        target=mount.target,
        read_only=mount.permission == "ro",
        options=mount.opts or EMPTY,
    )
