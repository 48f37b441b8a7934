"""kplan's planner: Context and facts, the provisioners, the compiler, the diff.

Everything here is pure (no IO, no clocks, no randomness; ruff enforces it), except
``planner._legacy._bridge``, which launches the legacy worker process.
"""

from ._compile import compile_plan, header_of, restart_needs_first_run
from ._context import Context, Facts
from ._fold import container_fragments, merge
from ._parse import context_from_agent, context_from_document
from ._quirks import QUIRKS
from .errors import ContextError, PlanError

__all__ = [
    "QUIRKS",
    "Context",
    "ContextError",
    "Facts",
    "PlanError",
    "compile_plan",
    "container_fragments",
    "context_from_agent",
    "context_from_document",
    "header_of",
    "merge",
    "restart_needs_first_run",
]
