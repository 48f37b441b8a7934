"""The kernel runner's command line (§13).

Under the jail sandbox the runner starts behind ``/opt/kernel/jail``, the jail's
arguments (stripped) and ``--``; then the krunner's python runs
``ai.backend.kernel`` with ``--debug`` when ``debug.kernel_runner`` is set, the
runtime type label (``app`` by default) and the runtime path label if any.
"""

from __future__ import annotations

from returns.result import Result

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["cmdargs"]

STAGE = "cmdargs"


def cmdargs(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``cmdargs`` (§13)."""
    draft = Draft(ctx, up, STAGE)
    container = ctx.local.container
    args: list[str] = []
    if container.sandbox_type == "jail":
        args += [
            "/opt/kernel/jail",
            *(arg.strip() for arg in container.jail_args),
            "--",
        ]
    args += ["/opt/backend.ai/bin/python", "-s", "-m", "ai.backend.kernel"]
    args += ["--debug"] if ctx.local.debug.kernel_runner else []
    args.append(ctx.label("ai.backend.runtime-type", "app"))
    path = ctx.image.labels.get("ai.backend.runtime-path")
    if path is not None:
        args.append(path)
    draft.thread(cmdargs=tuple(args))
    return draft.result()
