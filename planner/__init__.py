"""kplan's planner: Context and facts, the provisioners, the compiler, the diff.

Everything here is pure (no IO, no clocks, no randomness; ruff enforces it), except
``planner._legacy._bridge``, which launches the legacy worker process.
"""

from ._compare import (
    compare,
    container_fragments,
    expected_tree,
    plan_reader,
    quirk_labels,
)
from ._compile import compile_plan, header_of, restart_needs_first_run
from ._context import Context, Facts
from ._context_parse import (
    canonical_kernel_id,
    context_from_agent,
    context_from_document,
)
from ._diff import Diff, Difference, diff_json, diff_trees
from ._docker_merge import merge
from ._quirks import QUIRKS
from .errors import ContextError, PlanError

__all__ = [
    "QUIRKS",
    "Context",
    "ContextError",
    "Diff",
    "Difference",
    "Facts",
    "PlanError",
    "canonical_kernel_id",
    "compare",
    "compile_plan",
    "container_fragments",
    "context_from_agent",
    "context_from_document",
    "diff_json",
    "diff_trees",
    "expected_tree",
    "header_of",
    "merge",
    "plan_reader",
    "quirk_labels",
    "restart_needs_first_run",
]
