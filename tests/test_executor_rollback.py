"""Rolling back from a journal: true outcomes, never over newer data, never half-way.

A rollback leaves a path that changed since the apply and says so (``--force`` puts
it back anyway); it validates the whole journal first and refuses a corrupt one
naming the line and the field; an undo of what never happened (on a read-only or
immutable scratch) is no failure (issue 9, items 3, 4 and 9).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import pytest
from returns.result import Failure, Success

from effects import Tree
from executor import read_journal, rollback_journal

from .commands import ROOT, kplan
from .contexts import KERNEL_ID
from .executing import apply, needs_root, plan_at, snapshot, tools

pytestmark = needs_root
WORK = f"{KERNEL_ID}/work"
RESTART = {
    "kernel_config.uid": 2001,
    "kernel_config.internal_data.dotfiles": [
        {"path": "/home/work/.bashrc", "perm": "600", "data": "mine"},
        {"path": ".config/tool.ini", "perm": "640", "data": "x=1"},
    ],
}


def _restarted(tmp_path: Path) -> tuple[Path, Tree, Path]:
    """A root after a first run and a user's edits, the tree before the restart,
    and the journal of a successful restart."""
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root, **RESTART)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    (root / WORK / ".bashrc").write_text("the user's own edits\n")
    # A mode and an owner the restart puts back (it leaves out the chmods and
    # chowns of what is as the first run left it).
    (root / WORK / ".bashrc").chmod(0o644)
    os.chown(root / WORK / ".config" / "tool.ini", 4321, 4321)
    before = snapshot(root)
    _, restart = plan_at(root, restarting=True, **RESTART)
    journal = tmp_path / "restart.jsonl"
    assert isinstance(apply(restart, journal), Success)
    return root, before, journal


def _edit(path: Path) -> None:
    path.write_text("edited after the restart\n")


def _chmod(path: Path) -> None:
    path.chmod(0o604)


def _replace(path: Path) -> None:  # an editor's save: a new file renamed over it
    new = path.with_name(".bashrc.swp")
    new.write_text("saved by an editor\n")
    new.rename(path)


def _delete(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("change", [_edit, _chmod, _replace, _delete])
def test_a_path_changed_since_the_apply_is_left_and_reported_until_forced(
    tmp_path: Path, change: Callable[[Path], None]
) -> None:
    root, before, journal = _restarted(tmp_path)
    bashrc = root / WORK / ".bashrc"
    change(bashrc)
    name = PurePosixPath(WORK, ".bashrc")
    changed = snapshot(root).nodes.get(name)
    done = kplan("rollback", str(journal))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rollback INCOMPLETE" in done.stdout
    assert f"{WORK}/.bashrc changed since the apply" in done.stderr
    assert "--force" in done.stderr
    assert snapshot(root).nodes.get(name) == changed
    others = {p: n for p, n in snapshot(root).entries if p != name}
    assert others == {p: n for p, n in before.entries if p != name}
    assert (tmp_path / "restart.jsonl.private").is_dir()  # kept for the next try
    forced = kplan("rollback", str(journal), "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert snapshot(root) == before
    assert not (tmp_path / "restart.jsonl.private").exists()


def test_an_unchanged_rollback_is_complete_and_restores_the_old_bytes(
    tmp_path: Path,
) -> None:
    root, before, journal = _restarted(tmp_path)
    outcome = asyncio.run(rollback_journal(journal, tools())).unwrap()
    assert outcome.complete, outcome
    assert (root / WORK / ".bashrc").read_text() == "the user's own edits\n"
    assert snapshot(root) == before


def _fsyncs(tmp_path: Path, *args: str) -> int:
    """How many fsyncs ``kplan rollback ARGS`` made (every thread's, by strace)."""
    trace = tmp_path / "fsyncs.trace"
    command = [shutil.which("strace") or "strace", "-f", "-qq", "-e", "trace=fsync"]
    done = subprocess.run(
        [*command, "-o", str(trace), sys.executable, "-m", "kplan", "rollback", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return sum("fsync(" in line for line in trace.read_text().splitlines())


def test_a_rollback_fsyncs_only_when_durable_as_an_apply(tmp_path: Path) -> None:
    """No fsync by default (the records are write()s that survive the death of the
    process, as an apply's); ``--durable`` fsyncs each record and restored file."""
    root, before, journal = _restarted(tmp_path)
    assert _fsyncs(tmp_path, str(journal)) == 0
    assert snapshot(root) == before
    (tmp_path / "durable").mkdir()
    _, again, durable_journal = _restarted(tmp_path / "durable")
    records = len(durable_journal.read_bytes().splitlines())
    assert _fsyncs(tmp_path, str(durable_journal), "--durable") > 0
    written = len(durable_journal.read_bytes().splitlines()) - records
    assert written > 0
    assert snapshot(tmp_path / "durable" / "root") == again


# --- corrupt journals -------------------------------------------------------------

Records = list[dict[str, Any]]


def _first(records: Records, **match: object) -> dict[str, Any]:
    return next(r for r in records if all(r.get(k) == v for k, v in match.items()))


def _intent_of(records: Records, op: str) -> dict[str, Any]:
    return next(r for r in records if r["kind"] == "intent" and r["effect"]["op"] == op)


def _write_over(records: Records) -> dict[str, Any]:
    """A write over a file whose old content was saved (the edited .bashrc)."""
    return next(
        r
        for r in records
        if r["kind"] == "intent"
        and r["effect"]["op"] == "write"
        and r["prior"]["saved"]
    )


def _drop_mode(records: Records) -> tuple[dict[str, Any], str]:
    record = _intent_of(records, "chmod")
    del record["prior"]["old"]["mode"]
    return record, "prior.old.mode: is required"


def _bad_digest(records: Records) -> tuple[dict[str, Any], str]:
    record = _write_over(records)
    record["prior"]["saved"]["sha256"] = "not-hex!"
    return record, "prior.saved.sha256: expected a sha256 hex digest"


def _unknown_op(records: Records) -> tuple[dict[str, Any], str]:
    record = _intent_of(records, "chown")
    record["effect"]["op"] = "frobnicate"
    return record, "effect.op: unknown effect 'frobnicate'"


def _no_stage(records: Records) -> tuple[dict[str, Any], str]:
    record = _intent_of(records, "write")
    del record["stage"]
    return record, "stage: is required"


def _unknown_kind(records: Records) -> tuple[dict[str, Any], str]:
    record = _first(records, kind="done")
    record["kind"] = "maybe-done"
    return record, "kind: unknown record kind 'maybe-done'"


def _foreign_staging(records: Records) -> tuple[dict[str, Any], str]:
    record = _intent_of(records, "write")
    record["prior"] = {"old": None, "saved": None, "staging": "work"}
    return record, "prior.staging: 'work' is not a kplan staging name"


def _orphan_done(records: Records) -> tuple[dict[str, Any], str]:
    record = _first(records, kind="done")
    record["index"] = 999
    return record, "index: no intent for step 999"


def _stray_field(records: Records) -> tuple[dict[str, Any], str]:
    record = _write_over(records)
    record["prior"]["saved"]["colour"] = "red"
    return record, "prior.saved.colour: is not a known field"


def _intent_twice(records: Records) -> tuple[dict[str, Any], str]:
    first = _intent_of(records, "write")
    again = {**first, "stage": "again"}  # its index is the one that counts
    records.insert(records.index(_first(records, kind="end")), again)
    return again, f"index: step {first['index']} is journaled twice"


def _old_format(records: Records) -> tuple[dict[str, Any], str]:
    record = records[0]
    del record["format"]
    return record, "format: journal format 1; this kplan reads format 2"


@pytest.mark.parametrize(
    "corrupt",
    [
        _drop_mode,
        _bad_digest,
        _unknown_op,
        _no_stage,
        _unknown_kind,
        _foreign_staging,
        _orphan_done,
        _stray_field,
        _intent_twice,
        _old_format,
    ],
)
def test_a_corrupt_journal_is_refused_naming_line_and_field_before_any_undo(
    tmp_path: Path, corrupt: Callable[[Records], tuple[dict[str, Any], str]]
) -> None:
    root, _, journal = _restarted(tmp_path)
    records = [orjson.loads(line) for line in journal.read_bytes().splitlines()]
    record, message = corrupt(records)
    line = records.index(record) + 1
    journal.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    after_apply = snapshot(root)
    done = kplan("rollback", str(journal))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{journal} line {line}: {message}" in done.stderr
    assert "nothing was undone" in done.stderr
    assert snapshot(root) == after_apply


def test_a_line_that_is_not_json_is_refused_by_its_number(tmp_path: Path) -> None:
    root, _, journal = _restarted(tmp_path)
    lines = journal.read_bytes().splitlines()
    lines[3] = b'{"kind": "intent", "index": '
    journal.write_bytes(b"\n".join(lines) + b"\n")
    after_apply = snapshot(root)
    result = read_journal(journal)
    assert isinstance(result, Failure)
    assert (result.failure().line, result.failure().field) == (4, "(line)")
    refused = asyncio.run(rollback_journal(journal, tools()))
    assert "line 4: (line): not JSON" in str(refused.failure())
    assert snapshot(root) == after_apply


def test_a_missing_or_altered_private_copy_is_refused_before_any_undo(
    tmp_path: Path,
) -> None:
    root, _, journal = _restarted(tmp_path)
    private = tmp_path / "restart.jsonl.private"
    copy = next(private.glob("prior-*"))
    after_apply = snapshot(root)
    copy.write_bytes(b"not what was saved")
    done = kplan("rollback", str(journal))
    assert done.returncode == 1
    assert f"prior.saved: {copy.name} in {private} does not hold" in done.stderr
    copy.unlink()
    done = kplan("rollback", str(journal))
    assert done.returncode == 1
    assert f"{copy.name} in {private}: No such file or directory" in done.stderr
    shutil.rmtree(private)
    done = kplan("rollback", str(journal))
    assert "the private directory with prior-" in done.stderr
    assert snapshot(root) == after_apply


def test_a_missing_scratch_root_is_one_clear_line(tmp_path: Path) -> None:
    root, _, journal = _restarted(tmp_path)
    shutil.rmtree(root)
    done = kplan("rollback", str(journal))
    assert done.returncode == 1
    assert done.stderr == (
        f"kplan: cannot roll back {journal}: its scratch root {root} does not"
        " exist (nothing was undone)\n"
    )


def test_a_missing_or_empty_journal_is_one_line(tmp_path: Path) -> None:
    for path, reason in (
        (tmp_path / "nope.jsonl", "No such file or directory"),
        (tmp_path / "empty.jsonl", "empty: not a kplan journal"),
        (tmp_path, "not a regular file"),
    ):
        if path.name == "empty.jsonl":
            path.touch()
        done = kplan("rollback", str(path))
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1, done.stderr
        assert reason in done.stderr


# --- what never happened is no failure to undo ------------------------------------


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(path)],
            check=True,
            capture_output=True,
        )
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


@contextmanager
def _immutable(path: Path) -> Iterator[None]:
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"LOUD SKIP: chattr +i is not possible here: {made.stderr!r}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_scratch_fails_at_once_and_rolls_back_completely(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, plan = plan_at(root)
    with _read_only(root):
        result = apply(plan, tmp_path / "journal")
        assert isinstance(result, Failure)
        failure = result.failure()
        assert failure.index == 0
        assert "Read-only file system" in failure.cause
        assert failure.rollback.complete, failure
        assert read_journal(tmp_path / "journal").unwrap().outcome == "rolled-back"
        again = kplan("rollback", str(tmp_path / "journal"))
        assert again.returncode == 0, again.stderr
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("target", [".bashrc", "."])
def test_an_immutable_entry_on_a_restart_fails_and_rolls_back_completely(
    tmp_path: Path, target: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root, **RESTART)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    # edited since: the restart writes it again (as the first run left it, the
    # restart would leave it alone)
    (root / WORK / ".bashrc").write_text("the user's own edits\n")
    # a restart plans the first run's kconfig.dat updated by the manager's
    # updating_kernel_config, a shallow update (§15): the dotfiles come from there
    extra = {"path": ".newrc", "perm": "644", "data": "new"}
    dotfiles = [*RESTART["kernel_config.internal_data.dotfiles"], extra]  # type: ignore[misc]
    update = {"internal_data": {"dotfiles": dotfiles}}
    _, restart = plan_at(
        root, restarting=True, updating_kernel_config=update, **RESTART
    )
    assert any(".newrc" in str(step.effect) for step in restart.steps)
    before = snapshot(root)
    with _immutable(root / WORK / target):
        result = apply(restart, tmp_path / "restart")
        assert isinstance(result, Failure)
        failure = result.failure()
        assert "Operation not permitted" in failure.cause
        assert failure.rollback.complete, failure
    assert snapshot(root) == before


def test_a_rollback_killed_while_it_restores_a_file_is_finished_by_the_next(
    tmp_path: Path,
) -> None:
    # The file is half put back when the process dies: the next rollback must not
    # take that for a change by the user.
    root = tmp_path / "root"
    root.mkdir()
    dotfiles = {
        "kernel_config.internal_data.dotfiles": [
            {"path": "/home/work/.vimrc", "perm": "644", "data": "set number\n"}
        ]
    }
    _, first = plan_at(root, **dotfiles)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    vimrc = root / WORK / ".vimrc"
    vimrc.write_bytes(os.urandom(64 << 20))
    before = snapshot(root)
    _, restart = plan_at(root, restarting=True, **dotfiles)
    for attempt in range(8):
        journal = tmp_path / f"restart-{attempt}.jsonl"
        assert isinstance(apply(restart, journal), Success)
        if _kill_while_restoring(journal, vimrc):
            break
        assert kplan("rollback", str(journal)).returncode == 0
    else:
        pytest.skip("LOUD SKIP: never caught the restore half-way in 8 tries")
    assert 0 < vimrc.stat().st_size < 64 << 20  # half put back
    done = kplan("rollback", str(journal))
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(root) == before


def _kill_while_restoring(journal: Path, target: Path) -> bool:
    """Run ``kplan rollback`` and SIGKILL it once ``target`` is partly rewritten."""
    child = subprocess.Popen(
        [sys.executable, "-m", "kplan", "rollback", str(journal)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    caught = False
    while child.poll() is None:
        size = target.stat().st_size
        if 0 < size < 64 << 20 and size != len(b"set number\n"):
            child.send_signal(signal.SIGKILL)
            caught = True
            break
    child.wait()
    return caught and child.returncode == -signal.SIGKILL
