"""``kplan apply CTX``: a context document compiled into the plan to apply.

Apart from ``kplan._apply_cmd``, so that applying a plan file loads none of it:
the planner's stages, the completion of the document, the error rendering.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from returns.result import Failure, Result, Success

from effects import Plan, Tree
from planner import Context, Stages, scratch_only

from ._completion import Refusal, compile_document, known_stages
from ._exit import Exit
from ._render import render_errors

if TYPE_CHECKING:
    from ._metrics import KernelMetrics

__all__ = ["from_context"]


def from_context(
    args: argparse.Namespace,
    document: dict[str, object],
    metrics: KernelMetrics | None,
) -> Result[tuple[Plan, Tree], Exit]:
    """Compile a context document (every stage timed when metrics are asked for):
    the plan (its scratch part with ``--scratch-only``) and the tree it starts
    from; or, its refusals written to stderr, ``Exit.ERROR``."""

    def compiled(stages: Stages) -> Result[tuple[Context, Plan], list[Refusal]]:
        if metrics is not None:
            stages = metrics.timed(stages)
        done = compile_document(
            document, args.quirk, docker_url=args.docker, stages=stages
        )
        if metrics is not None:
            metrics.plan_done(planned=isinstance(done, Success))
        return done

    match known_stages().bind(compiled):
        case Success((ctx, plan)):
            kept = scratch_only(plan) if args.scratch_only else plan
            return Success((kept, ctx.facts.scratch_tree))
        case Failure(refusals):
            sys.stderr.write(render_errors(refusals))
            return Failure(Exit.ERROR)
        case _:
            raise AssertionError("unreachable")  # returns#1361
