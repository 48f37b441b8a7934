"""kplan's executor: the only IO. Facts, snapshots, apply, rollback, Docker."""

from ._apply import (
    ApplyOptions,
    ApplyReport,
    StepReport,
    apply_plan,
    model_apply,
    rollback_journal,
)
from ._directory_snapshot import snapshot
from ._docker_host import PLAN_LABEL, docker_facts
from ._fact_gathering import gather_facts, host_probes, runner_facts, scratch_facts
from ._journal import JournalState, read_journal
from ._tools import Tools, default_tools
from .errors import (
    ApplyFailed,
    ExecutorError,
    HostError,
    RollbackFailure,
    RollbackOutcome,
)

__all__ = [
    "PLAN_LABEL",
    "ApplyFailed",
    "ApplyOptions",
    "ApplyReport",
    "ExecutorError",
    "HostError",
    "JournalState",
    "RollbackFailure",
    "RollbackOutcome",
    "StepReport",
    "Tools",
    "apply_plan",
    "default_tools",
    "docker_facts",
    "gather_facts",
    "host_probes",
    "model_apply",
    "read_journal",
    "rollback_journal",
    "runner_facts",
    "scratch_facts",
    "snapshot",
]
