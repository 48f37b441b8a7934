"""kplan's executor: the only IO. Facts, snapshots, apply, rollback, Docker.

Entry points: ``apply_plan`` (returns an ``ApplyReport`` or an ``ApplyFailed``),
``rollback_journal`` (a ``RollbackOutcome`` or a ``RollbackRefused``),
``read_journal`` (a ``JournalState`` or a ``JournalError``), ``gather_facts`` and
``snapshot``. Expected failures are ``returns`` values; exceptions are bugs, or a
cancellation propagating unchanged after the rollback ran.

Each name is imported from its module on first use (``effects._exports``):
gathering facts loads neither the apply machinery nor aiodocker.
"""

from typing import TYPE_CHECKING

from effects._exports import lazy_exports

if TYPE_CHECKING:
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
    from ._docker_host import docker_facts
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

_WHERE = {
    **dict.fromkeys(
        (
            "ApplyOptions",
            "ApplyReport",
            "StepReport",
            "apply_plan",
            "lane_in_loop",
            "model_apply",
        ),
        "._apply",
    ),
    "PLAN_LABEL": "._container_labels",
    "snapshot": "._directory_snapshot",
    "docker_facts": "._docker_host",
    **dict.fromkeys(
        ("gather_facts", "host_probes", "runner_facts", "scratch_facts", "settled"),
        "._fact_gathering",
    ),
    **dict.fromkeys(("JournalState", "read_journal"), "._journal"),
    **dict.fromkeys(("EnginePorts", "HostPortPool"), "._port_pool"),
    "rollback_journal": "._rollback",
    **dict.fromkeys(("Tools", "default_tools"), "._tools"),
    **dict.fromkeys(
        (
            "ApplyFailed",
            "ChangedPath",
            "ExecutorError",
            "HostError",
            "JournalError",
            "RollbackFailure",
            "RollbackOutcome",
            "RollbackRefused",
        ),
        ".errors",
    ),
}

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

__getattr__ = lazy_exports(__name__, _WHERE)
