"""What an apply never does, whatever it meets (issue 9, items 1 and 2).

No write, chmod or chown reaches an inode with more than one link (a planted
hardlink to a file outside the scratch, §16 H36); one apply or rollback per kernel
at a time; and an undo never removes what its own step did not create.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
from returns.result import Failure, Result, Success

from effects import GenerateHostKey, MakeDir, Plan, Step, Tree, WriteFile
from executor import ApplyFailed, ApplyOptions, ApplyReport, apply_plan, read_journal

from .commands import kplan
from .contexts import KERNEL_ID
from .executing import (
    apply,
    context_file,
    has_dropbear,
    model,
    needs_root,
    plan_at,
    snapshot,
    tools,
)

pytestmark = needs_root
DOTFILES = {
    "kernel_config.uid": 2001,
    "kernel_config.internal_data.dotfiles": [
        {"path": "/home/work/.bashrc", "perm": "600", "data": "mine"},
    ],
}


def _first_run(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root, **DOTFILES)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    return root


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside" / "passwd"
    outside.parent.mkdir()
    outside.write_text("root:x:0:0:root:/root:/bin/sh\n")
    outside.chmod(0o644)
    return outside


def _state(path: Path) -> tuple[bytes, int, int, int]:
    info = path.stat()
    return path.read_bytes(), info.st_mode, info.st_uid, info.st_gid


@pytest.mark.parametrize(
    "planted",
    [
        "work/.bashrc",  # written, chmodded and chowned by the restart (a dotfile)
        "config/ssh/dropbear_rsa_host_key",  # only chowned by the restart (OWN)
    ],
)
def test_a_hardlink_to_an_outside_file_is_refused_and_nothing_changes(
    tmp_path: Path, planted: str
) -> None:
    if "dropbear" in planted and not has_dropbear():
        pytest.skip("LOUD SKIP: no dropbear, so no host key to plant a link at")
    root = _first_run(tmp_path)
    outside = _outside(tmp_path)
    link = root / KERNEL_ID / planted
    link.unlink()
    os.link(outside, link)
    _, restart = plan_at(root, restarting=True, **DOTFILES)
    before, outside_before = snapshot(root), _state(outside)
    result = apply(restart, tmp_path / "restart")
    assert isinstance(result, Failure), "the outside file was reached"
    failure = result.failure()
    assert planted in failure.cause
    assert "2 hard links" in failure.cause
    assert "H36" in failure.cause
    assert planted in failure.effect
    assert failure.rollback.complete, failure
    assert _state(outside) == outside_before
    assert snapshot(root) == before


def test_a_hardlink_met_by_a_new_kernel_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **DOTFILES)  # a new kernel, planned from nothing
    outside = _outside(tmp_path)
    work = root / KERNEL_ID / "work"
    work.mkdir(parents=True)
    os.link(outside, work / ".bashrc")
    before, outside_before = snapshot(root), _state(outside)
    result = apply(plan, tmp_path / "journal")
    assert isinstance(result, Failure)
    assert "hard links" in result.failure().cause
    assert _state(outside) == outside_before
    assert snapshot(root) == before
    assert not list((tmp_path / "journal.private").glob("prior-*"))


def _shape(tree: Tree) -> list[tuple[object, ...]]:
    return [(p, n.type, n.mode, n.uid, n.gid) for p, n in tree.entries]


def _index(
    steps: tuple[Step, ...], kind: type[MakeDir | WriteFile], suffix: str
) -> int:
    return next(
        i
        for i, step in enumerate(steps)
        if isinstance(step.effect, kind) and str(step.effect.path).endswith(suffix)
    )


def _work_made_after_planning(tmp_path: Path) -> tuple[Plan, Path]:
    """The plan of a new kernel, and its work dir, which another process makes
    after the plan was made: the apply keeps it and makes its entries there."""
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **DOTFILES)
    work = root / KERNEL_ID / "work"
    work.mkdir(parents=True)
    return plan, work


def test_an_undo_never_removes_what_its_own_step_did_not_create(
    tmp_path: Path,
) -> None:
    # A directory appears between a step's observation and its effect, where a
    # new subtree goes (in a work dir the apply keeps): its top
    # entry, whose nested entries the apply made under its staging name, is
    # refused (not kept), and the rollback leaves the directory that appeared.
    plan, work = _work_made_after_planning(tmp_path)
    jupyter = _index(plan.steps, MakeDir, "work/.jupyter")

    def race(index: int, _step: Step) -> None:
        if index == jupyter:
            (work / ".jupyter").mkdir(mode=0o700)
            (work / ".jupyter" / "theirs").write_text("theirs\n")

    # One step at a time, in plan order: .jupyter/custom and its files, the
    # steps right after .jupyter's, are surely in its batch (nested in it).
    options = ApplyOptions(
        journal=tmp_path / "journal", tools=tools(), on_step=race, parallel=1
    )
    result = asyncio.run(apply_plan(plan, options))
    assert isinstance(result, Failure)
    failure = result.failure()
    assert failure.index == jupyter
    assert "appeared after kplan looked" in failure.cause
    assert [p.name for p in work.iterdir()] == [".jupyter"]
    # the plan's custom/ is gone, theirs stays
    assert [p.name for p in (work / ".jupyter").iterdir()] == ["theirs"]
    assert not failure.rollback.failures
    assert not failure.rollback.changed  # nothing the apply made was changed


def test_an_exclusive_create_refuses_a_file_that_appeared_and_leaves_it(
    tmp_path: Path,
) -> None:
    plan, work = _work_made_after_planning(tmp_path)
    bashrc = _index(plan.steps, WriteFile, "work/.bashrc")

    def race(index: int, _step: Step) -> None:
        if index == bashrc:
            (work / ".bashrc").write_text("theirs\n")

    result = apply(plan, tmp_path / "journal", on_step=race)
    assert isinstance(result, Failure)
    failure = result.failure()
    assert failure.index == bashrc
    assert "exists" in failure.cause
    assert (work / ".bashrc").read_text() == "theirs\n"
    assert [p.name for p in work.iterdir()] == [".bashrc"]
    assert not failure.rollback.failures
    assert read_journal(tmp_path / "journal").unwrap().outcome == "rolled-back"


def test_a_second_apply_or_rollback_of_the_kernel_is_refused_at_once(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ctx, plan = plan_at(root, **DOTFILES)
    context = context_file(root, tmp_path / "ctx.json", **DOTFILES)
    paused, resume = threading.Event(), threading.Event()
    results: list[Result[ApplyReport, ApplyFailed]] = []

    def pause(index: int, _step: Step) -> None:
        if isinstance(_step.effect, GenerateHostKey) or index == 20:
            paused.set()
            resume.wait(60)

    first = threading.Thread(
        target=lambda: results.append(apply(plan, tmp_path / "first", on_step=pause))
    )
    first.start()
    try:
        assert paused.wait(30)
        started = time.monotonic()
        second = kplan(
            "apply",
            str(context),
            "--scratch-only",
            "--journal",
            str(tmp_path / "second"),
        )
        undo = kplan("rollback", str(tmp_path / "first"))
        assert time.monotonic() - started < 20  # refused at once, not waited for
    finally:
        resume.set()
        first.join(60)
    for done in (second, undo):
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert "is being applied or rolled back by another kplan process" in (
            done.stderr
        )
        assert f"pid {os.getpid()}" in done.stderr
    assert not (tmp_path / "second").exists()
    (result,) = results
    assert isinstance(result, Success), result
    assert _shape(snapshot(root)) == _shape(model(plan, ctx.facts.scratch_tree))
    again = kplan("rollback", str(tmp_path / "first"))  # the lock went with it
    assert again.returncode == 0, again.stderr
