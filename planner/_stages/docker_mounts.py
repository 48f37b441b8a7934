"""process_mounts: one ``HostConfig.Mounts`` entry per mount (§11).

The mount list is threaded in by the compiler: on a new kernel the intrinsic mounts
(§5, from the facts) followed by the context's resolved mounts; on a restart the
``MOUNTS`` line of the existing ``resource.txt`` (§12.3, §15), which has lost the
options and the non-bind/volume types. ``wd`` is downgraded to read-write, and the
options key is ``<Type.capitalize()>Options`` holding the options or ``{}``.
"""

from __future__ import annotations

from returns.result import Result

from effects import EMPTY, ContainerMount

from .._context import Context, Mount
from .._intrinsic_mounts import all_mounts
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["container_mount", "mounts"]

STAGE = "mounts"


def mounts(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``process_mounts(resource_spec.mounts)`` (§11)."""
    draft = Draft(ctx, up, STAGE)
    for index, mount in enumerate(up.mounts):
        bad = [name for name in ("source", "target") if "\x00" in getattr(mount, name)]
        for name in bad:
            draft.fail(
                "hazard",
                _field(ctx, index, name),
                repr(getattr(mount, name)),
                "a NUL byte in a path makes legacy raise ValueError",
            )
        if not bad:
            draft.add(container_mount(mount))
    return draft.result()


def _field(ctx: Context, index: int, name: str) -> str:
    """The context field of ``up.mounts[index]`` (intrinsic mounts come first)."""
    if ctx.restarting:
        return f"facts.scratch.resource.txt.MOUNTS[{index}].{name}"
    return f"mounts[{index - (len(all_mounts(ctx)) - len(ctx.mounts))}].{name}"


def container_mount(mount: Mount) -> ContainerMount:
    """The ``HostConfig.Mounts`` entry legacy builds for ``mount``."""
    return ContainerMount(
        type=mount.type,
        source=mount.source,
        target=mount.target,
        read_only=mount.permission == "ro",
        options=mount.opts or EMPTY,
    )
