"""Applying plans to a real scratch root, and undoing them exactly (issue 5)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path, PurePosixPath

import pytest
from returns.result import Failure, Success

from effects import (
    DATA_EFFECTS,
    GenerateHostKey,
    MakeDir,
    Plan,
    Step,
    Tree,
    WriteFile,
    blob_of,
    seal,
)
from executor import ApplyOptions, Tools, apply_plan, read_journal, rollback_journal
from executor import _rollback as executor_rollback
from executor._host import to_completion

from .contexts import KERNEL_ID
from .executing import (
    apply,
    apply_cancelled_at,
    deepest,
    fail_at,
    has_dropbear,
    model,
    needs_root,
    plan_at,
    snapshot,
    tools,
)

pytestmark = needs_root
DOTFILES = "kernel_config.internal_data.dotfiles"
FULL = {
    "kernel_config.uid": 2001,
    "kernel_config.bootstrap_script": "echo hi",
    "kernel_config.internal_data.ssh_keypair": {
        "public_key": "pub",
        "private_key": "priv",
    },
    "kernel_config.internal_data.docker_credentials": {"r.io": {"password": "p"}},
    DOTFILES: [
        {"path": ".config/a/b.ini", "perm": "640", "data": "x"},
        {"path": "/home/work/.bashrc", "perm": "600", "data": "mine"},
    ],
    "cluster_info.ssh_keypair": {"public_key": "cpub", "private_key": "cpriv"},
    "cluster_info.cluster_ssh_port_mapping": {"main1": ["10.0.0.1", 2200]},
}


@pytest.mark.parametrize("scratch_type", ["hostdir", "memory", "hostfile"])
def test_the_real_tree_equals_the_model(tmp_path: Path, scratch_type: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ctx, plan = plan_at(
        root,
        **FULL,
        **{
            "local_config.container.scratch_type": scratch_type,
            "local_config.container.scratch_size": "16m",
        },
    )
    result = apply(plan, tmp_path / "journal")
    try:
        assert isinstance(result, Success), result
        assert _comparable(snapshot(root)) == _comparable(
            model(plan, ctx.facts.scratch_tree)
        )
    finally:
        asyncio.run(rollback_journal(tmp_path / "journal", tools()))
    assert snapshot(root) == ctx.facts.scratch_tree


def _comparable(tree: Tree) -> object:
    """Volatile content (host keys, the ext4 image) is compared by type, mode, owner."""
    return [
        (
            p,
            n.type,
            n.mode,
            n.uid,
            n.gid,
            None if n.volatile or _volatile(p) else n.sha256,
        )
        for p, n in tree.entries
    ]


def _volatile(path: object) -> bool:
    text = str(path)
    return text.endswith((".img", "dropbear_rsa_host_key", "dropbear_rsa_host_key.pub"))


def _restarted_root(tmp_path: Path) -> tuple[Path, Plan]:
    """A root after a first run, with user edits, and a restart plan for it."""
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root, **FULL)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    work = root / KERNEL_ID / "work"
    (work / ".bashrc").write_text("the user's own edits\n")
    (work / "notes.txt").write_text("user data\n")
    return root, plan_at(root, restarting=True, **FULL)[1]


@pytest.mark.parametrize("fail_index", [0, 1, 5, 17, 40, -1])
def test_a_failure_at_any_step_leaves_the_exact_prior_state(
    tmp_path: Path, fail_index: int
) -> None:
    root, plan = _restarted_root(tmp_path)
    before = snapshot(root)
    index = fail_index % len(plan.steps)
    result = apply(plan, tmp_path / "journal", on_step=fail_at(index))
    assert isinstance(result, Failure)
    failure = result.failure()
    assert failure.index == index
    assert failure.rollback.complete
    assert snapshot(root) == before  # user data and old contents included
    assert read_journal(tmp_path / "journal").unwrap().outcome == "rolled-back"


def test_every_step_index_rolls_back_on_a_fresh_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    for index in range(len(plan.steps)):
        result = apply(plan, tmp_path / f"journal-{index}", on_step=fail_at(index))
        assert isinstance(result, Failure)
        assert list(root.iterdir()) == [], f"leftovers after a failure at step {index}"


def test_cancellation_rolls_back_and_propagates(tmp_path: Path) -> None:
    root, plan = _restarted_root(tmp_path)
    before = snapshot(root)
    # the last write over a file (the user's .bashrc is written back)
    index = max(i for i, s in enumerate(plan.steps) if isinstance(s.effect, WriteFile))
    assert apply_cancelled_at(plan, index, tmp_path / "journal")
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("planted", "kind"),
    [
        ("work", "file"),
        ("config", "symlink"),
        ("work/.bashrc", "dir"),
        ("work/.bashrc", "symlink"),
        ("work/.ssh", "symlink"),
        ("config/ssh", "file"),
    ],
)
def test_something_in_the_way_fails_names_the_effect_and_changes_nothing(
    tmp_path: Path, planted: str, kind: str
) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n")
    os.chmod(outside / "passwd", 0o644)  # noqa: PTH101
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    target = root / KERNEL_ID / planted
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "file":
        target.write_text("in the way\n")
    elif kind == "dir":
        target.mkdir()
    else:
        target.symlink_to(outside / "passwd" if "bashrc" in planted else outside)
    before, outside_before = snapshot(root), snapshot(outside)
    result = apply(plan, tmp_path / "journal")
    assert isinstance(result, Failure)
    failure = result.failure()
    assert failure.rollback.complete
    assert (
        planted.split("/", maxsplit=1)[0] in failure.effect
        or planted.split("/", maxsplit=1)[0] in failure.cause
    )
    assert snapshot(root) == before
    assert snapshot(outside) == outside_before


def test_applying_the_same_plan_twice_changes_nothing_or_refuses(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    assert isinstance(apply(plan, tmp_path / "once"), Success)
    after_once = snapshot(root)
    again = apply(plan, tmp_path / "twice")
    if isinstance(again, Failure):
        assert "already exists" in again.failure().cause
    assert snapshot(root) == after_once


def test_rollback_from_the_journal_is_safe_twice(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    assert isinstance(apply(plan, tmp_path / "journal"), Success)
    first = asyncio.run(rollback_journal(tmp_path / "journal", tools())).unwrap()
    second = asyncio.run(rollback_journal(tmp_path / "journal", tools())).unwrap()
    assert first.complete
    # every step that changed the host; data steps have nothing to undo
    changing = [s for s in plan.steps if type(s.effect) not in DATA_EFFECTS]
    assert 0 < len(changing) < len(plan.steps)
    assert first.undone == len(changing)
    assert second.complete
    assert second.undone == 0
    assert list(root.iterdir()) == []


def test_a_plan_for_another_identity_is_refused_before_anything(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **{"facts.uid": 4321})
    result = apply(plan, tmp_path / "journal")
    assert isinstance(result, Failure)
    assert "must be applied as 4321" in result.failure().cause
    assert not (tmp_path / "journal").exists()
    assert list(root.iterdir()) == []


def test_a_cancellation_during_the_last_step_still_rolls_back(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    last = deepest(plan)  # the step that starts last
    assert apply_cancelled_at(plan, last, tmp_path / "journal")
    assert list(root.iterdir()) == []
    assert read_journal(tmp_path / "journal").unwrap().outcome == "rolled-back"


@pytest.mark.skipif(
    not has_dropbear(), reason="LOUD SKIP: no dropbear to generate a host key"
)
def test_a_cancellation_during_host_key_generation_leaves_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root, **FULL)
    key = next(
        i for i, s in enumerate(plan.steps) if isinstance(s.effect, GenerateHostKey)
    )
    assert apply_cancelled_at(plan, key, tmp_path / "journal")
    assert list(root.iterdir()) == []


def test_a_cancelled_operation_finishes_before_the_cancellation_propagates() -> None:
    # A worker thread cannot be stopped: if the caller went on to roll back while
    # it still ran, its effect would land afterwards and stay.
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        finished.set()

    async def main() -> None:
        task = asyncio.create_task(to_completion(asyncio.to_thread(slow)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()

    asyncio.run(main())


SET_ID_DOTFILES = [
    {"path": "/home/work/bin/tool", "perm": "4755", "data": "#!/bin/sh\n"},
    {"path": ".both", "perm": "6755", "data": "b"},
    {"path": ".group", "perm": "2755", "data": "g"},
    {"path": ".locking", "perm": "2745", "data": "l"},
]


def test_the_model_clears_set_id_bits_on_chown_as_the_real_kernel_does(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ctx, plan = plan_at(root, **{"kernel_config.uid": 2001, DOTFILES: SET_ID_DOTFILES})
    assert isinstance(apply(plan, tmp_path / "journal"), Success)
    real = {str(p): n.mode for p, n in snapshot(root).entries}
    modelled = {str(p): n.mode for p, n in model(plan, ctx.facts.scratch_tree).entries}
    work = f"{KERNEL_ID}/work"
    assert real[f"{work}/bin/tool"] == 0o755
    assert real[f"{work}/.both"] == 0o755
    assert real[f"{work}/.group"] == 0o755
    assert real[f"{work}/.locking"] == 0o2745
    assert modelled == real


def test_a_rolled_back_chown_gives_back_the_set_id_bits_it_cleared(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root, **{DOTFILES: SET_ID_DOTFILES})
    assert isinstance(apply(first, tmp_path / "first"), Success)
    tool = root / KERNEL_ID / "work" / "bin" / "tool"
    tool.chmod(0o4755)  # the user sets it again; a restart chowns it once more
    _, restart = plan_at(root, restarting=True, **{DOTFILES: SET_ID_DOTFILES})
    before = snapshot(root)
    result = apply(restart, tmp_path / "restart", on_step=fail_at(deepest(restart)))
    assert isinstance(result, Failure)
    assert snapshot(root) == before


def test_an_undo_that_times_out_is_waited_for_not_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker thread cannot be stopped: a timed-out undo must still end before the
    # rollback goes on (and before it returns), or it lands afterwards.
    marker = tmp_path / "umount-finished"
    slow_umount = tmp_path / "slow-umount"
    slow_umount.write_text(
        f'#!/bin/sh\nsleep 1\n{shutil.which("umount")} "$@" && touch {marker}\n'
    )
    slow_umount.chmod(0o755)
    root = tmp_path / "root"
    root.mkdir()
    memory = {
        "local_config.container.scratch_type": "memory",
        "local_config.container.scratch_size": "16m",
    }
    _, plan = plan_at(root, **memory)
    monkeypatch.setattr(executor_rollback, "UNDO_TIMEOUT", 0.2)
    slow = attrs_evolve_tools(umount=str(slow_umount))

    async def run() -> tuple[object, bool]:
        options = ApplyOptions(
            journal=tmp_path / "journal",
            tools=slow,
            on_step=fail_at(deepest(plan)),
        )
        result = await apply_plan(plan, options)
        return result, marker.exists()

    result, finished = asyncio.run(run())
    assert finished, "the rollback returned while its umount still ran"
    assert isinstance(result, Failure)
    (late,) = result.failure().rollback.failures
    assert "TimeoutError" in late.reason
    assert "the interrupted operation finished" in late.reason
    assert list(root.iterdir()) == []  # unmounted in time for the rmdir after it


def attrs_evolve_tools(**changes: str) -> Tools:
    base = tools()
    fields = {
        "dropbearkey": base.dropbearkey,
        "mount": base.mount,
        "umount": base.umount,
        "mkfs": base.mkfs,
    }
    return Tools(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_new_entry_is_made_with_the_owner_its_step_names(tmp_path: Path) -> None:
    # The compiler folds a new entry's chown into the step that makes it: the
    # entry is made with that owner, then exactly its mode (a set-id bit stays,
    # given after the owner), and a rollback removes it as any new entry.
    root = tmp_path / "root"
    root.mkdir()
    _, compiled = plan_at(root)
    header = compiled.header
    kernel = PurePosixPath(KERNEL_ID)
    data = blob_of(b"owned\n")
    steps = [
        Step(stage="s", effect=MakeDir(path=kernel, mode=0o755)),
        Step(stage="s", effect=MakeDir(path=kernel / "d", mode=0o750, uid=4242)),
        Step(
            stage="s",
            effect=WriteFile(
                path=kernel / "d" / "f", blob=data.digest, mode=0o4750, uid=7, gid=8
            ),
        ),
    ]
    plan = seal(header, steps, [data], [(0, 1), (1, 2)])
    before = snapshot(root)
    assert isinstance(apply(plan, tmp_path / "journal"), Success)
    real = snapshot(root)
    nodes = real.nodes
    assert (nodes[kernel / "d"].uid, nodes[kernel / "d"].gid) == (4242, os.getegid())
    made = nodes[kernel / "d" / "f"]
    assert (made.mode, made.uid, made.gid) == (0o4750, 7, 8)
    assert real == model(plan, before)
    asyncio.run(rollback_journal(tmp_path / "journal", tools())).unwrap()
    assert snapshot(root) == before
