"""Readiness: the kernel runner answers on its REPL ports (the B19 analogue).

Legacy polls the kernel runner until it answers (``check_status``), bounded by
``kernel_lifecycles``. kplan's equivalent, planned only when asked for
(``wait_ready``), waits until both REPL host ports accept a connection, within the
same bound (``init_polling_timeout_sec``).
"""

from __future__ import annotations

from returns.result import Result

from effects import WaitKernelReady

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError
from .container_create import container_name

__all__ = ["WAIT_READY", "readiness"]

STAGE = "readiness"
WAIT_READY = "wait-ready"


def readiness(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan waiting for the kernel runner, when the caller asks for it."""
    draft = Draft(ctx, up, STAGE)
    if WAIT_READY in up.options and len(up.threaded.host_ports) >= 2:  # noqa: PLR2004
        timeout = ctx.local.kernel_lifecycles.init_polling_timeout_sec
        draft.add(
            WaitKernelReady(
                name=container_name(ctx),
                ports=up.threaded.host_ports[:2],
                timeout_ms=max(1, int(timeout * 1000)),
            )
        )
    return draft.result()
