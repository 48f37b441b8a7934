"""The user's vfolders (§9.1), mounted on new kernels only.

``mount_vfolders`` binds each ``kernel_config.mounts`` entry's host path at its
kernel path with its permission, in order; with
``internal_data.prevent_vfolder_mounts`` only the one named ``.logs`` is kept. A
kernel path Docker cannot mount (relative) or a path legacy's ``Path`` refuses (a
NUL byte) is refused here instead of failing at container creation.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from returns.result import Result

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from .._threaded import Mount
from ..errors import PlanError

__all__ = ["vfolder_mounts"]

STAGE = "vfolder-mounts"


def vfolder_mounts(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``mount_vfolders(vfolders, resource_spec)`` (§9.1)."""
    draft = Draft(ctx, up, STAGE)
    if ctx.restarting:
        return draft.result()
    only_logs = bool(ctx.internal.prevent_vfolder_mounts)
    mounts = list(up.mounts)
    for index, vfolder in enumerate(ctx.kernel_config.mounts):
        field = f"kernel_config.mounts[{index}]"
        bad = [
            name
            for name in ("host_path", "kernel_path")
            if "\x00" in getattr(vfolder, name)
        ]
        for name in bad:
            draft.fail(
                "hazard",
                f"{field}.{name}",
                repr(getattr(vfolder, name)),
                "a NUL byte in a path makes legacy raise ValueError",
            )
        if not PurePosixPath(vfolder.kernel_path).is_absolute():
            draft.fail(
                "crash",
                f"{field}.kernel_path",
                repr(vfolder.kernel_path),
                "not an absolute path: Docker refuses the container's mounts",
            )
        if bad or (only_logs and vfolder.name != ".logs"):
            continue
        mounts.append(
            Mount(
                type="bind",
                source=str(PurePosixPath(vfolder.host_path)),
                target=str(PurePosixPath(vfolder.kernel_path)),
                permission=vfolder.mount_perm,
            )
        )
    draft.thread(mounts=tuple(mounts))
    return draft.result()
