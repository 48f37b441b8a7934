"""A rollback folds the undo of chmods and chowns into the removal of their entry.

``executor._undo_fold``: one look per entry the apply made and then changed, never
over a path the user changed since (reported exactly as step by step), and a
rollback killed anywhere is finished exactly by the next.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import attrs
import orjson
import pytest
from returns.result import Success

from effects import Chown, MakeDir, Tree, WriteFile
from executor._confined_undo import overrides_permissions
from executor._inverse import Guard, RemoveEntry, RestoreFile, SetMeta, Undo
from executor._records import (
    DirPrior,
    FilePrior,
    MetaPrior,
    SavedFile,
    Stamp,
    StepRecord,
)
from executor._undo_fold import Pending, fold_chains, mark_removed_later

from .commands import ROOT, kplan
from .contexts import KERNEL_ID
from .executing import apply, needs_root, owners_apart, plan_at, snapshot

P = PurePosixPath
FILE = Stamp(kind="file", dev=1, ino=7, mode=0o644, uid=0, gid=0, sha256="a" * 64)
OWNED = attrs.evolve(FILE, uid=1000, gid=1000)
PRIVATE = attrs.evolve(OWNED, mode=0o600)
DIR = attrs.evolve(FILE, kind="dir", sha256=None)
_ROLLBACK = (sys.executable, "-m", "kplan", "rollback")


# --- which chains fold (pure) -------------------------------------------------------


def _made(path: str, left: Stamp) -> Pending:
    """A finished mkdir or new file's write at ``path`` that left ``left``."""
    made = ((P(path), left),)
    if left.kind == "dir":
        effect = MakeDir(path=P(path), mode=left.mode)
        record = StepRecord(
            index=0,
            stage="s",
            effect=effect,
            prior=DirPrior(existed=False, staging=None),
            left=made,
        )
    else:
        record = StepRecord(
            index=0,
            stage="s",
            effect=WriteFile(path=P(path), blob="b" * 64, mode=left.mode),
            prior=FilePrior(old=None, saved=None, staging=None),
            left=made,
        )
    guard = Guard(dev=left.dev, ino=left.ino, left=left)
    removal = RemoveEntry(path=P(path), guard=guard, directory=left.kind == "dir")
    return record, (removal,)


def _meta(path: str, old: Stamp, left: Stamp, index: int = 1) -> Pending:
    effect = Chown(path=P(path), uid=left.uid, gid=left.gid)
    record = StepRecord(index=index, stage="s", effect=effect, prior=MetaPrior(old=old))
    guard = Guard(dev=left.dev, ino=left.ino, left=left)
    return record, (SetMeta(path=P(path), old=old, guard=guard),)


def test_a_chain_of_chowns_and_chmods_folds_into_the_removal_against_the_last() -> None:
    group = [
        _meta("k/f", OWNED, PRIVATE, index=2),
        _meta("k/other", FILE, OWNED),
        _meta("k/f", FILE, OWNED),
        _made("k/f", FILE),
    ]
    (fold,) = fold_chains(group, fold_dirs=False).values()
    assert (fold.removal, fold.folded) == (3, (0, 2))
    assert fold.action.guard == Guard(dev=1, ino=7, left=PRIVATE)


def test_no_fold_where_stamps_do_not_chain_or_another_undo_is_between() -> None:
    unchained = [_meta("k/f", PRIVATE, OWNED), _made("k/f", FILE)]
    assert fold_chains(unchained, fold_dirs=True) == {}
    saved = SavedFile(name="prior-1", sha256="b" * 64, size=1)
    restore = RestoreFile(
        path=P("k/f"), saved=saved, old=FILE, guard=Guard(dev=1, ino=7, left=FILE)
    )
    restored = (_made("k/f", FILE)[0], (restore,))
    between = [_meta("k/f", FILE, OWNED), restored, _made("k/f", FILE)]
    assert fold_chains(between, fold_dirs=True) == {}
    other_entry = [_meta("k/f", FILE, OWNED), _made("k/f", attrs.evolve(FILE, ino=8))]
    assert fold_chains(other_entry, fold_dirs=True) == {}


def test_a_directory_folds_only_where_permission_checks_are_overridden() -> None:
    group = [_meta("k/d", DIR, attrs.evolve(DIR, mode=0o555)), _made("k/d", DIR)]
    assert fold_chains(group, fold_dirs=False) == {}
    assert set(fold_chains(group, fold_dirs=True)) == {1}


def test_an_in_place_undo_of_an_entry_a_later_undo_removes_needs_nothing_if_gone() -> (
    None
):
    group: list[Pending] = [_meta("k/f", FILE, OWNED), _made("k/f", FILE)]
    group.append(_meta("k/g", FILE, OWNED))  # made by no step of the rollback
    marked: list[Undo] = [actions[0] for _, actions in mark_removed_later(group)]
    assert [getattr(action, "removed_later", None) for action in marked] == [
        True,
        None,
        False,
    ]


# --- on a real scratch root ---------------------------------------------------------


def _applied(tmp_path: Path) -> tuple[Path, Tree, Path]:
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(root)
    _, folded = plan_at(root)
    plan = owners_apart(folded)  # entries made, then chowned
    journal = tmp_path / "journal.jsonl"
    assert isinstance(apply(plan, journal), Success)
    return root, before, journal


def _folded_entries(journal: Path) -> dict[str, str]:
    """Entries a write or mkdir of the apply made and a chown or chmod then
    changed, whose name no other made entry has: name -> ``file`` or ``dir``."""
    records = [orjson.loads(line) for line in journal.read_bytes().splitlines()]
    intents = [r for r in records if r["kind"] == "intent"]
    made = {
        r["effect"]["path"]: "file" if r["effect"]["op"] == "write" else "dir"
        for r in intents
        if r["effect"]["op"] in {"write", "mkdir"} and r["prior"].get("old") is None
    }
    names = Counter(P(path).name for path in made)
    changed = {
        r["effect"]["path"] for r in intents if r["effect"]["op"] in {"chown", "chmod"}
    }
    overwritten = {
        r["effect"]["path"]
        for r in intents
        if r["effect"]["op"] == "write" and r["prior"].get("old") is not None
    }
    return {
        P(path).name: kind
        for path, kind in made.items()
        if path in changed and path not in overwritten and names[P(path).name] == 1
    }


def _rollback_trace(tmp_path: Path, journal: Path) -> list[str]:
    trace = tmp_path / "rollback.trace"
    calls = "trace=newfstatat,openat,fchown,fchmod,unlinkat"
    command = [shutil.which("strace") or "strace", "-f", "-qq", "-e", calls]
    done = subprocess.run(
        [*command, "-o", str(trace), *_ROLLBACK, str(journal)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return trace.read_text().splitlines()


_OPENED = re.compile(r'openat\(\d+, "([^"]+)", .*\) = (\d+)$')
_CHANGED = re.compile(r"(fchown|fchmod)\((\d+),")


@needs_root
def test_a_rollback_looks_once_at_each_entry_it_made_and_then_changed(
    tmp_path: Path,
) -> None:
    """One ``lstat`` per such entry, no ``fchown`` or ``fchmod`` through it, one
    removal; every other undo as before (strace, as ``_fsyncs`` counts fsyncs)."""
    root, before, journal = _applied(tmp_path)
    entries = _folded_entries(journal)
    assert "file" in entries.values()
    assert "dir" in entries.values()
    lines = _rollback_trace(tmp_path, journal)
    assert snapshot(root) == before
    opened: dict[str, str] = {}
    changed: list[str] = []
    for line in lines:
        if (match := _OPENED.search(line)) is not None:
            opened[match[2]] = match[1]
        elif (match := _CHANGED.search(line)) is not None:
            changed.append(opened[match[2]])
    for name, kind in entries.items():
        named = [line for line in lines if f', "{name}", ' in line]
        looks = sum("AT_SYMLINK_NOFOLLOW" in line for line in named)
        removals = sum("unlinkat(" in line for line in named)
        if kind == "dir" and not overrides_permissions():
            continue  # a directory folds only with root's capabilities
        assert (looks, removals) == (1, 1), (name, kind)
        assert name not in changed, name


WORK = f"{KERNEL_ID}/work"


def _chown(path: Path) -> None:
    os.chown(path, 4242, 4242)


def _chmod(path: Path) -> None:
    path.chmod(0o604)


def _edit(path: Path) -> None:
    path.write_text("edited after the apply\n")


@needs_root
@pytest.mark.parametrize("change", [_chown, _chmod, _edit])
def test_a_made_and_chowned_file_changed_since_the_apply_is_kept_and_reported(
    tmp_path: Path, change: Callable[[Path], None]
) -> None:
    root, before, journal = _applied(tmp_path)
    name = next(n for n, kind in _folded_entries(journal).items() if kind == "file")
    path = next(root.rglob(name))
    change(path)
    relative = path.relative_to(root)
    changed = snapshot(root).nodes[P(relative)]
    done = kplan("rollback", str(journal))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{relative} changed since the apply" in done.stderr
    assert "--force" in done.stderr
    assert snapshot(root).nodes[P(relative)] == changed
    # Step by step: the chown's undo and the write's both report it.
    reported = [n for n in done.stderr.splitlines() if f"{relative} changed" in n]
    assert len(reported) == 2, done.stderr
    forced = kplan("rollback", str(journal), "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert snapshot(root) == before


def _killed_at(journal: Path, syscall: str, count: int) -> bool:
    """``kplan rollback`` SIGKILLed before its ``count``-th ``syscall`` (strace's
    fault injection); False if it finished first."""
    inject = f"inject={syscall}:signal=SIGKILL:when={count}"
    command = [shutil.which("strace") or "strace", "-f", "-qq", "-o", os.devnull]
    done = subprocess.run(
        [*command, "-e", f"trace={syscall}", "-e", inject, *_ROLLBACK, str(journal)],
        capture_output=True,
        check=False,
        cwd=ROOT,
    )
    return done.returncode != 0


@needs_root
@pytest.mark.parametrize("syscall", ["unlinkat", "write"])
def test_a_rollback_killed_at_any_removal_or_record_is_finished_exactly_by_the_next(
    tmp_path: Path, syscall: str
) -> None:
    """Killed before each removal (so also after the one before: between a folded
    removal and its records) or each journal write, the next rollback leaves
    exactly the prior state and reports nothing changed."""
    count = 1
    while True:
        place = tmp_path / f"{syscall}-{count}"
        place.mkdir()
        root, before, journal = _applied(place)
        if not _killed_at(journal, syscall, count):
            break
        done = kplan("rollback", str(journal))
        assert done.returncode == 0, (count, done.stdout + done.stderr)
        assert snapshot(root) == before, count
        shutil.rmtree(place)
        count += 1
    assert count > 2  # it was killed at least once
