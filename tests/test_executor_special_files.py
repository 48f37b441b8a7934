"""Sockets and FIFOs in work/ (tmux, ssh-agent and jupyter leave them there).

Facts, snapshots, the model and diffs represent them by type, mode and owner; a
restart goes through them, and nothing is ever written, chmodded or chowned through
one (issue 9, item 6).
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import orjson
import pytest
from returns.result import Failure, Success

from executor import rollback_journal

from .commands import kplan
from .contexts import KERNEL_ID, document
from .executing import apply, model, needs_root, plan_at, snapshot, tools

pytestmark = needs_root


def _plant(work: Path) -> None:
    (work / ".tmux-1000").mkdir(mode=0o700)
    os.mknod(work / ".tmux-1000" / "default", 0o770 | stat.S_IFSOCK)
    os.mknod(work / "agent.sock", 0o600 | stat.S_IFSOCK)
    os.mkfifo(work / "jupyter.fifo", 0o640)
    os.chown(work / "agent.sock", 1100, 1200)


def _first_run(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    return root


def test_a_restart_goes_through_sockets_and_fifos_and_rolls_back_exactly(
    tmp_path: Path,
) -> None:
    root = _first_run(tmp_path)
    _plant(root / KERNEL_ID / "work")
    ctx, plan = plan_at(root, restarting=True)
    kinds = {str(p): n.type for p, n in ctx.facts.scratch_tree.entries}
    assert kinds[f"{KERNEL_ID}/work/agent.sock"] == "socket"
    assert kinds[f"{KERNEL_ID}/work/.tmux-1000/default"] == "socket"
    assert kinds[f"{KERNEL_ID}/work/jupyter.fifo"] == "fifo"
    before = snapshot(root)
    result = apply(plan, tmp_path / "restart")
    assert isinstance(result, Success), result
    after = snapshot(root)
    expected = model(plan, ctx.facts.scratch_tree)
    assert [(p, n.type, n.mode, n.uid, n.gid) for p, n in after.entries] == [
        (p, n.type, n.mode, n.uid, n.gid) for p, n in expected.entries
    ]
    outcome = asyncio.run(rollback_journal(tmp_path / "restart", tools())).unwrap()
    assert outcome.complete, outcome
    assert snapshot(root) == before


def test_snapshot_plan_expect_and_diff_show_them(tmp_path: Path) -> None:
    root = _first_run(tmp_path)
    _plant(root / KERNEL_ID / "work")
    shot = kplan("snapshot", str(root), "--format", "json")
    assert shot.returncode == 0, shot.stderr
    entries = {e["path"]: e for e in orjson.loads(shot.stdout)}
    sock = entries[f"{KERNEL_ID}/work/agent.sock"]
    assert (sock["type"], sock["mode"], sock["uid"], sock["gid"]) == (
        "socket",
        "0o600",
        1100,
        1200,
    )
    assert (sock["size"], sock["sha256"]) == (None, None)
    assert entries[f"{KERNEL_ID}/work/jupyter.fifo"]["type"] == "fifo"
    doc = document(restarting=True)
    del doc["facts"]  # gathered by kplan, the scratch included on a restart
    doc["local_config"]["container"]["scratch_root"] = str(root)
    context = tmp_path / "restart.json"
    context.write_bytes(orjson.dumps(doc))
    for command in ("plan", "expect"):
        done = kplan(command, str(context))
        assert done.returncode == 0, done.stderr
    expected = kplan("expect", str(context), "--format", "json").stdout
    assert '"type":"fifo"' in expected.replace(" ", "")
    fresh = tmp_path / "fresh.json"
    del doc["restarting"]
    fresh.write_bytes(orjson.dumps(doc))
    diff = kplan("diff", str(fresh), "--against", str(root))
    assert diff.returncode == 2, diff.stderr
    assert f"only-in-other    {KERNEL_ID}/work/agent.sock" in diff.stdout
    assert "socket 0o600 1100:1200" in diff.stdout


@pytest.mark.parametrize("kind", ["socket", "fifo"])
def test_nothing_is_written_over_one_and_nothing_changes(
    tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root)  # a new kernel: planned from nothing
    work = root / KERNEL_ID / "work"
    work.mkdir(parents=True)
    if kind == "socket":
        os.mknod(work / ".bashrc", 0o644 | stat.S_IFSOCK)
    else:
        os.mkfifo(work / ".bashrc", 0o644)
    before = snapshot(root)
    result = apply(plan, tmp_path / "journal")
    assert isinstance(result, Failure)
    failure = result.failure()
    assert "work/.bashrc" in failure.cause
    assert f"a {'socket' if kind == 'socket' else 'FIFO'}" in failure.cause
    assert failure.rollback.complete
    assert snapshot(root) == before
