"""What a restart reads back from the scratch, and what it writes over there.

It reads back kconfig.dat and cluster.json, any size.

``kconfig.dat`` pickles the whole kernel config, dotfiles included: a kernel with
a few hundred KB of dotfiles has one larger than the small files whose content
the facts keep, and ``restart_kernel`` reads it all the same. The facts keep the
two files a restart reads whatever their size; a context that lists one without
its content is refused naming the content it lacks, not planned as a crash of
legacy's (it would read the file). It writes over only the files that do not
hold the planned content already, and saves only their old content.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from returns.result import Failure, Success

from effects import WriteFile
from executor import rollback_journal
from executor._fact_gathering import SMALL_FILE
from planner import compile_plan, context_from_document

from .contexts import KERNEL_ID
from .executing import apply, document_at, needs_root, plan_at, snapshot, tools

DOTFILES = "kernel_config.internal_data.dotfiles"
LARGE = [{"path": ".big.rc", "perm": "644", "data": "x" * (SMALL_FILE + 1024)}]
KCONFIG = f"{KERNEL_ID}/config/kconfig.dat"


def _first_run(root: Path, journal: Path) -> None:
    root.mkdir()
    _, first = plan_at(root, **{DOTFILES: LARGE})
    assert isinstance(apply(first, journal), Success)
    assert (root / KCONFIG).stat().st_size > SMALL_FILE


@needs_root
def test_a_restart_reads_back_a_kconfig_larger_than_a_small_file(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    _first_run(root, tmp_path / "first")
    # Edited since: the restart writes it again (over a file that holds its
    # content already, it leaves the write out).
    (root / KERNEL_ID / "work" / ".big.rc").write_text("edited\n")
    ctx, restart = plan_at(root, restarting=True, **{DOTFILES: LARGE})
    assert ctx.restarting
    written = {
        str(s.effect.path) for s in restart.steps if isinstance(s.effect, WriteFile)
    }
    assert f"{KERNEL_ID}/work/.big.rc" in written  # its dotfiles, from kconfig.dat
    assert not any(s.stage.startswith("first-run/") for s in restart.steps)
    assert isinstance(apply(restart, tmp_path / "restart"), Success)


@needs_root
def test_a_listed_kconfig_without_its_content_is_refused_naming_the_content(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    _first_run(root, tmp_path / "first")
    document = document_at(root, restarting=True, **{DOTFILES: LARGE})
    (node,) = [n for n in document["facts"]["scratch"] if n["path"] == KCONFIG]
    del document["facts"]["contents"][node["sha256"]]
    result = compile_plan(context_from_document(document).unwrap())
    assert isinstance(result, Failure)
    (error,) = result.failure()
    assert error.code == "unsupported"
    assert error.field == f"facts.contents.{node['sha256']}"
    assert KCONFIG in error.reason
    assert error.raises is None  # no crash of legacy's: it would read the file


@needs_root
def test_a_restart_writes_over_only_what_differs_and_saves_only_that(
    tmp_path: Path,
) -> None:
    # A restart plans every dotfile and config copy again; most hold the planned
    # bytes already: the compiler leaves out the writes the facts show hold
    # them, and the executor leaves as they are those that hold them by the
    # time it looks (not written, nothing saved for them), so the rollback has
    # nothing to put back there.
    dotfiles = [
        {"path": ".same.rc", "perm": "644", "data": "unchanged\n"},
        {"path": ".edited.rc", "perm": "644", "data": "planned\n"},
    ]
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root, **{DOTFILES: dotfiles})
    assert isinstance(apply(first, tmp_path / "first"), Success)
    work = root / KERNEL_ID / "work"
    (work / ".edited.rc").write_text("the user's\n")
    (work / ".same.rc").write_text("for a moment\n")
    _, restart = plan_at(root, restarting=True, **{DOTFILES: dotfiles})
    (work / ".same.rc").write_text("unchanged\n")  # the planned bytes again
    same = (work / ".same.rc").stat()
    before = snapshot(root)
    _, fresh = plan_at(root, restarting=True, **{DOTFILES: dotfiles})
    planned = {
        s.effect.path.name for s in fresh.steps if isinstance(s.effect, WriteFile)
    }
    assert ".edited.rc" in planned
    assert ".same.rc" not in planned
    journal = tmp_path / "restart"
    report = apply(restart, journal).unwrap()
    outcome = {
        str(restart.steps[s.index].effect.path): s.outcome  # type: ignore[union-attr]
        for s in report.steps
        if isinstance(restart.steps[s.index].effect, WriteFile)
    }
    assert outcome[f"{KERNEL_ID}/work/.same.rc"] == "kept"
    assert outcome[f"{KERNEL_ID}/work/.edited.rc"] == "applied"
    now = (work / ".same.rc").stat()
    # its content was not written (its owner may be set again: a chown's ctime)
    assert (now.st_ino, now.st_mtime_ns) == (same.st_ino, same.st_mtime_ns)
    assert (work / ".edited.rc").read_text() == "planned\n"
    saved = sorted(p.name for p in Path(f"{journal}.private").iterdir())
    written_over = [
        s.index
        for s in report.steps
        if s.outcome == "applied"
        and isinstance(restart.steps[s.index].effect, WriteFile)
    ]
    assert saved == sorted(f"prior-{index}" for index in written_over)
    rolled = asyncio.run(rollback_journal(journal, tools()))
    assert rolled.unwrap().complete
    assert snapshot(root) == before
