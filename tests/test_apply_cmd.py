"""``kplan apply`` and ``kplan rollback``: one line for every expected failure.

An unusable ``XDG_STATE_HOME``, ``--journal`` naming a directory or an existing file,
a planted ``<journal>.private`` symlink (never followed), and SIGINT or SIGTERM
during an apply (rolled back, exit 130 or 143) each end with one line, never a
traceback (issue 9, item 8).
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from effects import decode, encode
from executor import read_journal
from planner import scratch_only

from .commands import ROOT, kplan
from .contexts import KERNEL_ID
from .executing import context_file, document_at, needs_root, snapshot

pytestmark = needs_root
DOTFILES = {
    "kernel_config.internal_data.dotfiles": [
        {"path": "/home/work/.bashrc", "perm": "600", "data": "mine"}
    ]
}


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def _root(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    root.mkdir()
    return root, context_file(root, tmp_path / "ctx.json", **DOTFILES)


def test_an_unusable_state_directory_is_one_line(tmp_path: Path) -> None:
    root, context = _root(tmp_path)
    (tmp_path / "state").write_text("a file, not a directory\n")
    done = kplan(
        "apply",
        str(context),
        "--scratch-only",
        env={"XDG_STATE_HOME": str(tmp_path / "state")},
    )
    line = _one_line(done)
    assert "refused before any change: create journal" in line
    assert f"{tmp_path}/state/kplan" in line
    assert "Not a directory" in line
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_a_journal_path_that_is_taken_is_one_line(tmp_path: Path, kind: str) -> None:
    root, context = _root(tmp_path)
    journal = tmp_path / "taken"
    if kind == "directory":
        journal.mkdir()
    else:
        journal.write_text("an earlier journal\n")
    line = _one_line(
        kplan("apply", str(context), "--scratch-only", "--journal", str(journal))
    )
    assert f"a {kind} exists there; a journal is never reused" in line
    assert list(root.iterdir()) == []
    if kind == "file":
        assert journal.read_text() == "an earlier journal\n"


def test_a_planted_private_symlink_is_never_followed_by_an_apply(
    tmp_path: Path,
) -> None:
    root, context = _root(tmp_path)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    journal = tmp_path / "journal.jsonl"
    (tmp_path / "journal.jsonl.private").symlink_to(decoy)
    line = _one_line(
        kplan("apply", str(context), "--scratch-only", "--journal", str(journal))
    )
    assert "journal.jsonl.private: exists already" in line
    assert list(decoy.iterdir()) == []
    assert list(root.iterdir()) == []
    assert not journal.exists()


def test_a_planted_private_symlink_is_never_followed_by_a_rollback(
    tmp_path: Path,
) -> None:
    root, first = _root(tmp_path)
    assert (
        kplan(
            "apply", str(first), "--scratch-only", "--journal", str(tmp_path / "first")
        ).returncode
        == 0
    )
    # The user's edit: the restart writes over it and saves it (a file that held
    # the planned bytes already would be neither written nor saved).
    (root / KERNEL_ID / "work" / ".bashrc").write_text("the user's\n")
    restart = context_file(root, tmp_path / "restart.json", restarting=True, **DOTFILES)
    journal = tmp_path / "restart.jsonl"
    applied = kplan("apply", str(restart), "--scratch-only", "--journal", str(journal))
    assert applied.returncode == 0, applied.stderr
    private = tmp_path / "restart.jsonl.private"
    decoy = tmp_path / "decoy"
    private.rename(decoy)  # the real copies, now somewhere else
    private.symlink_to(decoy)
    after = snapshot(root)
    line = _one_line(kplan("rollback", str(journal)))
    assert "restart.jsonl.private: not a directory (kplan never follows" in line
    assert "nothing was undone" in line
    assert sorted(p.name for p in decoy.iterdir())  # untouched, still there
    assert snapshot(root) == after


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_a_signal_during_apply_rolls_back_and_exits_with_one_line(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    # The host key takes a while: the signal arrives while dropbearkey runs.
    runner, marker = tmp_path / "runner", tmp_path / "keygen-started"
    runner.mkdir()
    slow = runner / f"dropbearmulti.{platform.machine()}.bin"
    slow.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 2\nexit 1\n")
    slow.chmod(0o755)
    root = tmp_path / "root"
    root.mkdir()
    doc = document_at(root, **DOTFILES)
    doc["facts"]["runner"]["has_dropbear"] = True
    (tmp_path / "ctx.json").write_bytes(orjson.dumps(doc))
    journal = tmp_path / "journal.jsonl"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kplan",
            "apply",
            str(tmp_path / "ctx.json"),
            "--scratch-only",
            "--journal",
            str(journal),
        ],
        cwd=ROOT,
        env={**os.environ, "KPLAN_RUNNER_DIR": str(runner)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == code, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    assert f"kplan: apply stopped by {signum.name}: rollback complete" in stderr
    assert list(root.iterdir()) == []
    assert read_journal(journal).unwrap().outcome == "rolled-back"
    assert not (tmp_path / "journal.jsonl.private").exists()
    assert not (root / KERNEL_ID).exists()


def test_a_plan_file_that_needs_no_docker_applies_without_an_engine(
    tmp_path: Path,
) -> None:
    # A scratch-only plan file has no step Docker takes part in: asking for an
    # engine first refused it on a host without one (and loaded aiodocker).
    root, context = _root(tmp_path)
    whole = tmp_path / "whole.json"
    assert kplan("plan", str(context), "-o", str(whole)).returncode == 0
    part = tmp_path / "scratch.json"
    part.write_bytes(encode(scratch_only(decode(whole.read_bytes()).unwrap())))
    nowhere = {"DOCKER_HOST": f"unix://{tmp_path / 'no-engine.sock'}"}
    before = snapshot(root)
    refused = _one_line(
        kplan("apply", str(whole), "--journal", str(tmp_path / "w"), env=nowhere)
    )
    assert "no Docker engine answers" in refused
    assert snapshot(root) == before
    assert not (tmp_path / "w").exists()
    journal = tmp_path / "journal"
    done = kplan("apply", str(part), "--journal", str(journal), env=nowhere)
    assert done.returncode == 0, done.stderr
    assert (root / KERNEL_ID / "config" / "environ.txt").is_file()
    undone = kplan("rollback", str(journal), env=nowhere)
    assert undone.returncode == 0, undone.stderr
    assert snapshot(root) == before
