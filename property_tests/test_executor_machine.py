"""A state machine drives apply / fail / cancel / rollback on a real directory.

After every step the real tree must equal the model: the projection of every apply
that succeeded and was not rolled back, in order (hypothesis stateful testing,
``@invariant`` comparing the real thing with a model).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from returns.result import Failure, Success

from effects import Plan, Tree, project
from executor import ApplyOptions, apply_plan, rollback_journal
from planner import scratch_only
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


@attrs.frozen
class Applied:
    """A successful apply: its journal and the model tree before it."""

    journal: Path
    before: Tree


class ApplyMachine(RuleBasedStateMachine):
    """apply / fail / cancel / rollback against a real scratch root."""

    def __init__(self) -> None:
        super().__init__()
        self.holder = tempfile.mkdtemp(prefix="kplan-machine-")
        self.root = Path(self.holder) / "root"
        self.root.mkdir()
        self.model = Tree()
        self.volatile: frozenset[str] = frozenset()
        self.applied: list[Applied] = []
        self.journals = 0

    @initialize(document=context_documents(HOST, RUNNER, scratch_types=("hostdir",)))
    def choose_kernel(self, document: dict[str, Any]) -> None:
        self.document = document

    def _plan(self, restarting: bool) -> Plan:  # noqa: FBT001
        document = {**self.document, "restarting": restarting}
        return scratch_only(planned(context_for(document, self.root)))

    def _journal(self) -> Path:
        self.journals += 1
        return Path(self.holder) / f"journal-{self.journals}"

    @rule(restarting=st.booleans())
    def apply(self, restarting: bool) -> None:  # noqa: FBT001
        plan = self._plan(restarting)
        journal = self._journal()
        result = asyncio.run(
            apply_plan(plan, ApplyOptions(journal=journal, tools=TOOLS))
        )
        match result:
            case Success(_):
                expected = project(plan, self.model).unwrap()
                self.applied.append(Applied(journal=journal, before=self.model))
                self.model = expected
                self.volatile |= volatile_paths(expected)
            case Failure(failure):
                # Only a second fresh start may refuse: its host key already exists.
                assert "already exists" in failure.cause, failure
                assert failure.rollback.complete
            case _:
                raise AssertionError("unreachable")

    @rule(restarting=st.booleans(), seed=st.integers(0, 10_000))
    def apply_and_fail(self, restarting: bool, seed: int) -> None:  # noqa: FBT001
        plan = self._plan(restarting)
        index = seed % len(plan.steps)
        options = ApplyOptions(
            journal=self._journal(), tools=TOOLS, on_step=fail_at(index)
        )
        result = asyncio.run(apply_plan(plan, options))
        assert isinstance(result, Failure)
        assert result.failure().rollback.complete

    @rule(restarting=st.booleans(), seed=st.integers(0, 10_000))
    def apply_and_cancel(self, restarting: bool, seed: int) -> None:  # noqa: FBT001
        plan = self._plan(restarting)
        assert apply_cancelled_at(plan, seed % len(plan.steps), self._journal())

    @precondition(lambda self: self.applied)
    @rule()
    def rollback_last(self) -> None:
        last = self.applied.pop()
        outcome = asyncio.run(rollback_journal(last.journal, TOOLS)).unwrap()
        assert outcome.complete
        self.model = last.before

    @invariant()
    def real_tree_matches_the_model(self) -> None:
        actual = snapshot(self.root)
        assert comparable(actual, self.volatile) == comparable(
            self.model, self.volatile
        )

    def teardown(self) -> None:
        for applied in reversed(self.applied):
            asyncio.run(rollback_journal(applied.journal, TOOLS))
        shutil.rmtree(self.holder)


ApplyMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=8, deadline=None
)
TestApplyMachine = needs_root(ApplyMachine.TestCase)
