"""The user bootstrap script: ``work/bootstrap.sh`` (§12 step 1).

New kernels only. Written verbatim (no newline added) with the umask mode, so it is
not executable, then OWN (§1.3).
"""

from __future__ import annotations

from returns.result import Result

from .._context import Context
from .._layout import below, new_file_mode, work_dir
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["bootstrap"]

STAGE = "bootstrap"


def bootstrap(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the bootstrap.sh step of ``prepare_container`` (§12)."""
    draft = Draft(ctx, up, STAGE)
    script = ctx.kernel_config.bootstrap_script
    if script and not ctx.restarting:
        path = below(work_dir(ctx), "bootstrap.sh")
        draft.write(path, script.encode(), new_file_mode(ctx))
        draft.own([path])
    return draft.result()
