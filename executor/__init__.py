"""kplan's executor: the only IO. Facts, snapshots, apply, rollback, Docker.

Entry points: ``apply_plan`` (returns an ``ApplyReport`` or an ``ApplyFailed``),
``rollback_journal`` (a ``RollbackOutcome`` or a ``RollbackRefused``),
``read_journal`` (a ``JournalState`` or a ``JournalError``), ``gather_facts`` and
``snapshot``. Expected failures are ``returns`` values; exceptions are bugs, or a
cancellation propagating unchanged after the rollback ran.
"""

from typing import TYPE_CHECKING

from ._apply import (
    ApplyOptions,
    ApplyReport,
    StepReport,
    apply_plan,
    lane_in_loop,
    model_apply,
)
from ._container_labels import PLAN_LABEL
from ._directory_snapshot import snapshot
from ._fact_gathering import (
    gather_facts,
    host_probes,
    runner_facts,
    scratch_facts,
    settled,
)
from ._journal import JournalState, read_journal
from ._port_pool import EnginePorts, HostPortPool
from ._rollback import rollback_journal
from ._tools import Tools, default_tools
from .errors import (
    ApplyFailed,
    ChangedPath,
    ExecutorError,
    HostError,
    JournalError,
    RollbackFailure,
    RollbackOutcome,
    RollbackRefused,
)

if TYPE_CHECKING:
    from ._docker_host import docker_facts

__all__ = [
    "PLAN_LABEL",
    "ApplyFailed",
    "ApplyOptions",
    "ApplyReport",
    "ChangedPath",
    "EnginePorts",
    "ExecutorError",
    "HostError",
    "HostPortPool",
    "JournalError",
    "JournalState",
    "RollbackFailure",
    "RollbackOutcome",
    "RollbackRefused",
    "StepReport",
    "Tools",
    "apply_plan",
    "default_tools",
    "docker_facts",
    "gather_facts",
    "host_probes",
    "lane_in_loop",
    "model_apply",
    "read_journal",
    "rollback_journal",
    "runner_facts",
    "scratch_facts",
    "settled",
    "snapshot",
]


def __getattr__(name: str) -> object:
    """``docker_facts`` on first use: it loads aiodocker (``executor._docker_host``)."""
    if name == "docker_facts":
        from ._docker_host import docker_facts  # noqa: PLC0415  (see the docstring)

        return docker_facts
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
