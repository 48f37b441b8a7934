"""A new subtree made in one batch, nested under its top entry's staging name
(``executor._fs_lane``, *Nested*): the real tree is the model's, and a failure,
an appearing entry or a crash before the top one's rename leaves nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from returns.result import Failure, Success

from effects import MakeDir, Plan, Tree, WriteFile, encode
from executor import ApplyOptions, apply_plan, read_journal

from .commands import kplan
from .contexts import KERNEL_ID
from .executing import apply, fail_at, model, needs_root, plan_at, snapshot, tools

pytestmark = needs_root
DEPTH = 40
DEEP = "/".join(f"d{level}" for level in range(DEPTH))
DOTFILES = {
    "kernel_config.uid": 2001,
    "kernel_config.internal_data.dotfiles": [
        {"path": f".deep/{DEEP}/leaf.ini", "perm": "640", "data": "x"},
        {"path": ".wide/a.txt", "perm": "600", "data": "a"},
    ],
}


def comparable(tree: Tree) -> list[tuple[object, ...]]:
    """The tree without the content of the host key, new on each apply."""
    return [
        (
            path,
            node.type,
            node.mode,
            node.uid,
            node.gid,
            "ssh" in path.parts or node.sha256,
        )
        for path, node in tree.entries
    ]


def _scratch_made_before(root: Path) -> Path:
    """The kernel's work dir, there before the apply (its subtrees are new)."""
    work = root / KERNEL_ID / "work"
    work.mkdir(parents=True)
    return work


def _leaf(plan: Plan) -> int:
    return next(
        index
        for index, step in enumerate(plan.steps)
        if isinstance(step.effect, WriteFile) and step.effect.path.name == "leaf.ini"
    )


@pytest.mark.parametrize("parallel", [1, 8])
def test_a_deep_new_subtree_is_made_in_one_batch_and_is_the_model(
    tmp_path: Path, parallel: int
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ctx, plan = plan_at(root, **DOTFILES)
    options = ApplyOptions(
        journal=tmp_path / "journal", tools=tools(), parallel=parallel
    )
    report = asyncio.run(apply_plan(plan, options))
    assert isinstance(report, Success), report
    assert comparable(snapshot(root)) == comparable(model(plan, ctx.facts.scratch_tree))
    deep = {
        index
        for index, step in enumerate(plan.steps)
        if isinstance(step.effect, MakeDir | WriteFile)
        and "/.deep/" in str(step.effect.path)
    }
    assert len(deep) == DEPTH + 1  # d0 ... d39, leaf.ini
    starts = {s.start for s in report.unwrap().steps if s.index in deep}
    if parallel == 1:  # plan order: the chain's steps are consecutive
        assert len(starts) == 1  # one batch, not one per level
    else:  # a batch may end early where the host key waits on it alone
        assert len(starts) <= 2
    assert not [p for p in root.rglob("*") if p.name.startswith(".kplan-")]


def test_a_failure_deep_inside_a_new_subtree_leaves_the_tree_as_before(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **DOTFILES)
    _scratch_made_before(root)
    before = snapshot(root)
    result = apply(plan, tmp_path / "journal", on_step=fail_at(_leaf(plan)))
    assert isinstance(result, Failure)
    assert not result.failure().rollback.failures
    assert snapshot(root) == before


def test_a_sigkill_before_the_top_entry_is_renamed_is_rolled_back_from_the_journal(
    tmp_path: Path,
) -> None:
    # Killed in the stage phase, at the leaf: the subtree is made under .deep's
    # staging name, nothing yet announced; `kplan rollback` removes all of it.
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **DOTFILES)
    work = _scratch_made_before(root)
    before = snapshot(root)
    plan_file, journal = tmp_path / "plan.json", tmp_path / "journal"
    plan_file.write_bytes(encode(plan))
    child = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from pathlib import Path
        from effects import decode
        from executor import ApplyOptions, apply_plan, default_tools
        from legacy import legacy_runner_dir
        plan = decode(Path({str(plan_file)!r}).read_bytes()).unwrap()
        def kill(index, _step):
            if index == {_leaf(plan)}:
                os.kill(os.getpid(), signal.SIGKILL)
        options = ApplyOptions(journal=Path({str(journal)!r}),
            tools=default_tools(legacy_runner_dir()), on_step=kill)
        asyncio.run(apply_plan(plan, options))
        """
    )
    killed = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, check=False
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    # The subtree below .deep, under its top entry's staging name.
    (staged,) = (work / ".deep").glob(".kplan-*")
    assert (staged / "d1" / "d2").is_dir()
    assert not (work / ".deep" / "d0").exists()
    assert read_journal(journal).unwrap().outcome != "rolled-back"
    for _ in range(2):  # a rollback is safe to run twice
        undone = kplan("rollback", str(journal))
        assert undone.returncode == 0, undone.stderr
        assert snapshot(root) == before
    assert list(work.iterdir()) == []
