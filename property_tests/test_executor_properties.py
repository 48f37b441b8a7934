"""Executor properties over generated contexts, on real temporary scratch roots.

Applying a plan leaves what the pure model says; a failure or a cancellation at any
step, or a SIGKILL at any point followed by ``kplan rollback``, leaves exactly the
prior state (issue 5, item 7).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from bench.sides import cached_host_key
from effects import Plan, encode, project
from executor import ApplyOptions, apply_plan, rollback_journal
from executor._apply import private_dir
from planner import Context, scratch_only
from tests.executing import apply_cancelled_at, fail_at

from .applying import (
    HOST,
    RUNNER,
    TOOLS,
    comparable,
    context_for,
    needs_root,
    planned,
    snapshot,
    volatile_paths,
)
from .strategies import context_documents

pytestmark = needs_root
DOCUMENTS = context_documents(HOST, RUNNER, scratch_types=("hostdir", "memory"))
ROOT = Path(__file__).parent.parent


def _workspace() -> tuple[tempfile.TemporaryDirectory[str], Path]:
    holder = tempfile.TemporaryDirectory(prefix="kplan-prop-")
    root = Path(holder.name) / "root"
    root.mkdir()
    return holder, root


def _apply(plan: Any, journal: Path, on_step: Any = None) -> Any:
    return asyncio.run(
        apply_plan(plan, ApplyOptions(journal=journal, tools=TOOLS, on_step=on_step))
    )


@settings(max_examples=30)
@given(DOCUMENTS)
def test_applying_leaves_the_model_tree(document: dict[str, Any]) -> None:
    holder, root = _workspace()
    with holder:
        ctx = context_for(document, root)
        plan = scratch_only(planned(ctx))
        expected = project(plan, ctx.facts.scratch_tree).unwrap()
        result = _apply(plan, root.parent / "journal")
        try:
            assert isinstance(result, Success), result
            actual = snapshot(root)
            volatile = volatile_paths(expected)
            assert comparable(actual, volatile) == comparable(expected, volatile)
        finally:
            asyncio.run(rollback_journal(root.parent / "journal", TOOLS))
        assert snapshot(root) == ctx.facts.scratch_tree


def _plan_of(ctx: Context, *, fixed_key: bool) -> Plan:
    """The scratch plan of ``ctx``; with ``fixed_key`` its host key fixed bytes, so
    a hostdir plan is plain file work, its lane run in the event loop's thread."""
    plan = scratch_only(planned(ctx))
    return cached_host_key(plan) if fixed_key else plan


@settings(max_examples=30)
@given(DOCUMENTS, st.integers(0, 10_000), st.booleans(), st.booleans())
def test_a_failure_or_cancellation_anywhere_leaves_the_prior_state(
    document: dict[str, Any],
    seed: int,
    cancel: bool,  # noqa: FBT001
    fixed_key: bool,  # noqa: FBT001
) -> None:
    holder, root = _workspace()
    with holder:
        ctx = context_for(document, root)
        plan = _plan_of(ctx, fixed_key=fixed_key)
        index = seed % len(plan.steps)
        before = snapshot(root)
        journal = root.parent / "journal"
        if cancel:
            assert apply_cancelled_at(plan, index, journal)
        else:
            assert isinstance(_apply(plan, journal, fail_at(index)), Failure)
        assert snapshot(root) == before


@settings(max_examples=20)
@given(
    DOCUMENTS,
    st.integers(0, 10_000),
    st.sampled_from([0.0, 0.0005, 0.002, 0.01]),
    st.booleans(),
)
def test_a_sigkill_anywhere_then_kplan_rollback_leaves_the_prior_state(
    document: dict[str, Any],
    seed: int,
    delay: float,
    fixed_key: bool,  # noqa: FBT001
) -> None:
    holder, root = _workspace()
    with holder:
        ctx = context_for(document, root)
        plan = _plan_of(ctx, fixed_key=fixed_key)
        plan_file, journal = root.parent / "plan.json", root.parent / "journal"
        plan_file.write_bytes(encode(plan))
        before = snapshot(root)
        child = [
            sys.executable,
            str(ROOT / "property_tests" / "crash_child.py"),
            str(plan_file),
            str(journal),
            str(seed % len(plan.steps)),
            str(delay),
        ]
        crashed = subprocess.run(child, capture_output=True, check=False, cwd=ROOT)
        assert crashed.returncode == -9, crashed.stderr.decode()
        for _ in range(2):  # rollback is safe to run twice
            undo = subprocess.run(
                [sys.executable, "-m", "kplan.cli", "rollback", str(journal)],
                capture_output=True,
                check=False,
                cwd=ROOT,
            )
            assert undo.returncode == 0, undo.stderr.decode()
            assert snapshot(root) == before
            assert not private_dir(journal).exists()  # no stray host key copy
