"""Helpers for tests that apply plans to a real temporary scratch root (as root)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from returns.result import Result

from effects import Chown, MakeDir, Plan, Step, Tree, WriteFile, project, seal
from executor import (
    ApplyFailed,
    ApplyOptions,
    ApplyReport,
    HostError,
    Tools,
    apply_plan,
    default_tools,
    scratch_facts,
)
from executor import snapshot as take_snapshot
from legacy import legacy_runner_dir
from planner import Context, compile_plan, context_from_document, scratch_only
from planner._edges import edges_of

from .contexts import KERNEL_ID, document

needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="LOUD SKIP: applying plans chowns, mounts and runs dropbear: needs root",
)


def tools() -> Tools:
    """Tools with the legacy runner's dropbear when it is there."""
    return default_tools(legacy_runner_dir())


def has_dropbear() -> bool:
    """Whether host keys can be generated here."""
    return tools().dropbearkey is not None


def document_at(root: Path, **changes: Any) -> dict[str, Any]:
    """The test context document (``tests.contexts``) at scratch root ``root``, with
    facts about what ``root`` holds now (as ``kplan`` gathers them)."""
    doc = document(**changes)
    doc["local_config"]["container"]["scratch_root"] = str(root)
    runner = doc["facts"]["runner"]
    runner["has_dropbear"] = has_dropbear() and runner.get("has_dropbear", True)
    entries, contents = scratch_facts(root, KERNEL_ID)
    doc["facts"].update(scratch=entries, contents=contents)
    return doc


def context_at(root: Path, **changes: Any) -> Context:
    """``document_at`` parsed."""
    return context_from_document(document_at(root, **changes)).unwrap()


def context_file(root: Path, path: Path, **changes: Any) -> Path:
    """``document_at`` written to ``path``, for ``kplan`` commands."""
    path.write_bytes(orjson.dumps(document_at(root, **changes)))
    return path


def plan_at(root: Path, **changes: Any) -> tuple[Context, Plan]:
    """Context and plan for ``root`` as it is now."""
    ctx = context_at(root, **changes)
    return ctx, scratch_only(compile_plan(ctx).unwrap())


def owners_apart(plan: Plan) -> Plan:
    """``plan`` with each owner a ``MakeDir`` or ``WriteFile`` names as a
    ``Chown`` right after it instead, as legacy chowns what it just made (the
    compiler folds those in): for the tests of made-then-chowned entries."""
    steps: list[Step] = []
    for step in plan.steps:
        effect = step.effect
        if isinstance(effect, MakeDir | WriteFile) and (
            effect.uid is not None or effect.gid is not None
        ):
            made = attrs.evolve(effect, uid=None, gid=None)
            chown = Chown(path=effect.path, uid=effect.uid, gid=effect.gid)
            steps += [
                Step(stage=step.stage, effect=made),
                attrs.evolve(step, effect=chown),
            ]
        else:
            steps.append(step)
    return seal(plan.header, steps, plan.blobs, edges_of(steps))


def snapshot(root: Path) -> Tree:
    """The real tree below ``root``."""
    return take_snapshot(root)[0]


def model(plan: Plan, before: Tree) -> Tree:
    """What the pure model says ``plan`` leaves."""
    return project(plan, before).unwrap()


def apply(
    plan: Plan,
    journal: Path,
    on_step: Callable[[int, Step], None] | None = None,
) -> Result[ApplyReport, ApplyFailed]:
    """Apply synchronously."""
    options = ApplyOptions(journal=journal, tools=tools(), on_step=on_step)
    return asyncio.run(apply_plan(plan, options))


def deepest(plan: Plan) -> int:
    """The step a parallel apply starts last: the end of the longest chain of
    edges (ties: the highest index). A failure there comes after everything."""
    depth = [0] * len(plan.steps)
    for before, later in plan.edges:  # sorted: a step's depth is final when used
        depth[later] = max(depth[later], depth[before] + 1)
    return max(range(len(depth)), key=lambda index: (depth[index], index))


def fail_at(index: int) -> Callable[[int, Step], None]:
    """An ``on_step`` hook that injects a ``HostError`` at step ``index``."""

    def fail(step_index: int, _step: Step) -> None:
        if step_index == index:
            raise HostError("injected", "(test)", f"a failure injected at step {index}")

    return fail


def apply_cancelled_at(plan: Plan, index: int, journal: Path) -> bool:
    """Apply as a task cancelled at step ``index``: did the cancellation propagate?"""

    async def run() -> bool:
        task: asyncio.Task[object] | None = None
        loop = asyncio.get_running_loop()

        def cancel(step_index: int, _step: Step) -> None:
            # on_step runs in the thread that runs the step: a worker's, for files
            if step_index == index and task is not None:
                loop.call_soon_threadsafe(task.cancel)

        options = ApplyOptions(journal=journal, tools=tools(), on_step=cancel)
        task = asyncio.create_task(apply_plan(plan, options))
        try:
            await task
        except asyncio.CancelledError:
            return task.cancelled()
        return False

    return asyncio.run(run())
