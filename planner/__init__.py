"""kplan's planner: the context, the stages, the compiler, the diff (all pure).

Entry points (architecture.md §3):

* ``context_from_document(document)`` and ``context_from_agent(...)`` build a
  ``Context``, or return every ``ContextError`` (a field missing, unknown or
  ill-typed); ``read_document`` reads a document whose facts are still to gather.
* ``compile_plan(ctx, quirks)`` returns the sealed ``effects.Plan``, or every
  ``PlanError`` of every stage (a hazard refused, an input legacy crashes on, a
  conflict); it raises only on a bug.
* ``compare(ctx, plan, other, ...)`` returns the ``Diff`` against another outcome.

Nothing here does IO, reads a clock or draws randomness.
"""

from ._compare import (
    Outcome,
    compare,
    container_fragments,
    expected_tree,
    plan_reader,
    quirk_labels,
)
from ._compile import (
    FIRST_RUN,
    compile_plan,
    header_of,
    restart_needs_first_run,
    scratch_only,
)
from ._context import Context
from ._diff import Diff, Difference, diff_json, diff_trees
from ._docker_merge import merge
from ._document import (
    ContextDocument,
    canonical_kernel_id,
    context_from_agent,
    context_from_document,
    legacy_inputs,
    read_document,
)
from ._facts import Facts
from ._quirks import QUIRKS
from .errors import ContextError, PlanError

__all__ = [
    "FIRST_RUN",
    "QUIRKS",
    "Context",
    "ContextDocument",
    "ContextError",
    "Diff",
    "Difference",
    "Facts",
    "Outcome",
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
    "legacy_inputs",
    "merge",
    "plan_reader",
    "quirk_labels",
    "read_document",
    "restart_needs_first_run",
    "scratch_only",
]
