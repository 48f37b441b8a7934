"""kplan: the command line, and the library an agent calls (docs/library.md).

The agent's entry points, all async (``kplan._agent_api``):

* ``plan_kernel(...)``: the agent's inputs to ``create_kernel`` in, a
  ``KernelPlan`` (or every refusal) out;
* ``apply_kernel(plan, ...)``: an ``AppliedKernel`` of plain data (the container id,
  the service ports with their host ports, the kernel record), or an
  ``ApplyFailed`` (rolled back), or an ``ApplyCancelled``;
* ``rollback_kernel(journal, ...)``: undo an apply from its journal.

A ``HostPortPool`` (the agent's) raises ``HostError`` for a port it cannot give.
``KernelMetrics`` observes all three as Prometheus metrics in the agent's registry.
Stage plugins are found through the ``kplan.stages`` entry points
(``STAGE_PLUGIN_GROUP``; architecture.md §9).

Each name is imported from its module on first use (``effects._exports``), so a
command loads only what it runs.
"""

from typing import TYPE_CHECKING

from effects._exports import lazy_exports

if TYPE_CHECKING:
    from executor import (
        ApplyFailed,
        HostError,
        HostPortPool,
        RollbackOutcome,
        RollbackRefused,
    )
    from planner import ContextError, PlanError, StagePlugin

    from ._agent_api import (
        AppliedKernel,
        ApplyCancelled,
        KernelPlan,
        Progress,
        apply_kernel,
        plan_kernel,
        rollback_kernel,
    )
    from ._metrics import KernelMetrics
    from ._plugin_loading import GROUP as STAGE_PLUGIN_GROUP

__all__ = [
    "STAGE_PLUGIN_GROUP",
    "AppliedKernel",
    "ApplyCancelled",
    "ApplyFailed",
    "ContextError",
    "HostError",
    "HostPortPool",
    "KernelMetrics",
    "KernelPlan",
    "PlanError",
    "Progress",
    "RollbackOutcome",
    "RollbackRefused",
    "StagePlugin",
    "apply_kernel",
    "plan_kernel",
    "rollback_kernel",
]

_WHERE = {
    **dict.fromkeys(
        (
            "ApplyFailed",
            "HostError",
            "HostPortPool",
            "RollbackOutcome",
            "RollbackRefused",
        ),
        "executor",
    ),
    **dict.fromkeys(("ContextError", "PlanError", "StagePlugin"), "planner"),
    **dict.fromkeys(
        (
            "AppliedKernel",
            "ApplyCancelled",
            "KernelPlan",
            "Progress",
            "apply_kernel",
            "plan_kernel",
            "rollback_kernel",
        ),
        "._agent_api",
    ),
    "KernelMetrics": "._metrics",
    "STAGE_PLUGIN_GROUP": "._plugin_loading:GROUP",
}

__getattr__ = lazy_exports(__name__, _WHERE)
