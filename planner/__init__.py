"""kplan's planner: the context, the stages, the compiler, the diff (all pure).

Entry points (architecture.md §3):

* ``context_from_document(document)`` and ``context_from_agent(...)`` build a
  ``Context``, or return every ``ContextError`` (a field missing, unknown or
  ill-typed); ``read_document`` reads a document whose facts are still to gather.
* ``compile_plan(ctx, quirks)`` returns the sealed ``effects.Plan``, or every
  ``PlanError`` of every stage (a hazard refused, an input legacy crashes on, a
  conflict); it raises only on a bug.
* ``compare(ctx, plan, other, ...)`` returns the ``Diff`` against another outcome.
* ``with_plugins(plugins)`` places ``StagePlugin``s among the built-in ``STAGES``
  for ``compile_plan(..., stages=...)`` (architecture.md §9); a plugin's stage is
  written like a built-in one, with ``Draft``, ``Part`` and ``Upstream``.

Nothing here does IO, reads a clock or draws randomness.

Each name is imported from its module on first use (``effects._exports``): a
command that only reads the quirks' names loads no stage.
"""

from typing import TYPE_CHECKING

from effects._exports import lazy_exports

if TYPE_CHECKING:
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
    )
    from ._context import Context
    from ._custom_stages import StagePlugin, stage_names, with_plugins
    from ._diff import Diff, Difference, diff_json, diff_trees
    from ._docker_merge import merge
    from ._document import (
        ContextDocument,
        agent_document,
        canonical_kernel_id,
        context_from_agent,
        context_from_document,
        context_with_facts,
        legacy_inputs,
        read_document,
    )
    from ._facts import Facts
    from ._quirks import QUIRKS
    from ._scratch_only import scratch_only
    from ._stage_api import Draft, Part, Upstream
    from ._stages import STAGES, Stage, Stages
    from ._threaded import THREADED_BY, Threaded
    from .errors import ContextError, PlanError

__all__ = [
    "FIRST_RUN",
    "QUIRKS",
    "STAGES",
    "THREADED_BY",
    "Context",
    "ContextDocument",
    "ContextError",
    "Diff",
    "Difference",
    "Draft",
    "Facts",
    "Outcome",
    "Part",
    "PlanError",
    "Stage",
    "StagePlugin",
    "Stages",
    "Threaded",
    "Upstream",
    "agent_document",
    "canonical_kernel_id",
    "compare",
    "compile_plan",
    "container_fragments",
    "context_from_agent",
    "context_from_document",
    "context_with_facts",
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
    "stage_names",
    "with_plugins",
]

_WHERE = {
    **dict.fromkeys(
        (
            "Outcome",
            "compare",
            "container_fragments",
            "expected_tree",
            "plan_reader",
            "quirk_labels",
        ),
        "._compare",
    ),
    **dict.fromkeys(
        (
            "FIRST_RUN",
            "compile_plan",
            "header_of",
            "restart_needs_first_run",
        ),
        "._compile",
    ),
    "Context": "._context",
    **dict.fromkeys(("StagePlugin", "stage_names", "with_plugins"), "._custom_stages"),
    **dict.fromkeys(("Diff", "Difference", "diff_json", "diff_trees"), "._diff"),
    "merge": "._docker_merge",
    **dict.fromkeys(
        (
            "ContextDocument",
            "agent_document",
            "canonical_kernel_id",
            "context_from_agent",
            "context_from_document",
            "context_with_facts",
            "legacy_inputs",
            "read_document",
        ),
        "._document",
    ),
    "Facts": "._facts",
    "QUIRKS": "._quirks",
    "scratch_only": "._scratch_only",
    **dict.fromkeys(("Draft", "Part", "Upstream"), "._stage_api"),
    **dict.fromkeys(("STAGES", "Stage", "Stages"), "._stages"),
    **dict.fromkeys(("THREADED_BY", "Threaded"), "._threaded"),
    **dict.fromkeys(("ContextError", "PlanError"), ".errors"),
}

__getattr__ = lazy_exports(__name__, _WHERE)
