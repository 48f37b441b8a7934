"""An undo in the applying process compares a file with the bytes it wrote.

Where the apply's own content is at hand (an apply rolling back in-process), a
file's judgement reads it and compares it with those bytes instead of hashing it;
the verdicts are the same as the digest's: equal bytes are the apply's content,
any other byte, length or growth is a change since the apply (issue 12).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path, PurePosixPath

import pytest
from returns.result import Failure

from effects import Chmod, Step, WriteFile, seal
from executor import ApplyOptions, apply_plan
from executor import _confined_fs as confined_fs
from executor._confined_fs import ScratchRoot
from executor._streams import CHUNK, digest_of, holds
from planner._edges import edges_of

from .contexts import KERNEL_ID
from .executing import deepest, fail_at, needs_root, plan_at, snapshot, tools

LARGE = "x" * (CHUNK + 5)  # two chunks: the compare crosses a chunk's end


def _file(tmp_path: Path, data: bytes) -> tuple[int, int]:
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDWR)
    return fd, os.fstat(fd).st_size


@pytest.mark.parametrize(
    ("held", "data", "same"),
    [
        (b"mine", b"mine", True),
        (b"", b"", True),
        (b"mine", b"MINE", False),  # same size, other bytes
        (b"mine", b"mine!", False),
        (b"mine!", b"mine", False),
        (LARGE.encode(), LARGE.encode(), True),
        (LARGE.encode(), (LARGE[:-1] + "y").encode(), False),  # past the first chunk
        (b"x" * CHUNK, b"x" * CHUNK, True),  # exactly one chunk: one more read
    ],
)
def test_holds_is_true_exactly_for_the_same_bytes(
    tmp_path: Path, held: bytes, data: bytes, *, same: bool
) -> None:
    fd, size = _file(tmp_path, held)
    try:
        assert holds(fd, size, data) is same
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0  # the offset is untouched
    finally:
        os.close(fd)


@pytest.mark.parametrize("length", [4, CHUNK])
def test_a_file_grown_after_its_fstat_does_not_hold_the_bytes(
    tmp_path: Path, length: int
) -> None:
    data = b"m" * length
    fd, size = _file(tmp_path, data)
    try:
        os.pwrite(fd, b"+", size)  # appended between the fstat and the compare
        assert not holds(fd, size, data)
    finally:
        os.close(fd)


def test_a_written_file_gets_the_expected_digest_unhashed_and_others_theirs(
    tmp_path: Path,
) -> None:
    (tmp_path / "f").write_bytes(b"mine")
    (tmp_path / "g").write_bytes(b"MINE")
    fs = ScratchRoot(tmp_path, tools())
    # A table whose key is not the data's digest shows which way the digest came.
    claimed = "0" * 64
    fs.written = {claimed: b"mine"}
    try:
        f, g = PurePosixPath("f"), PurePosixPath("g")
        stamp = fs.stamp(f, digest=True, expect=claimed)
        assert stamp is not None
        assert stamp.sha256 == claimed
        other = fs.stamp(g, digest=True, expect=claimed)
        assert other is not None
        assert other.sha256 == hashlib.sha256(b"MINE").hexdigest()
        unexpected = fs.stamp(f, digest=True, expect="1" * 64)
        assert unexpected is not None
        assert unexpected.sha256 == hashlib.sha256(b"mine").hexdigest()
    finally:
        fs.close()


@needs_root
@pytest.mark.parametrize("data", ["mine", LARGE])
def test_an_in_process_undo_keeps_a_file_edited_in_place_and_undoes_the_rest(
    tmp_path: Path, data: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(root)
    dotfiles = [{"path": "/home/work/.bashrc", "perm": "600", "data": data}]
    _, plan = plan_at(
        root,
        **{
            "kernel_config.uid": 2001,
            "kernel_config.internal_data.dotfiles": dotfiles,
        },
    )
    bashrc = root / KERNEL_ID / "work" / ".bashrc"
    # The dotfile's chmod of .bashrc, as legacy makes it after the write (the
    # compiler folds it into the runner's write, which made the file): a step
    # on it that starts once the write is done, to edit the file and fail at.
    bashrc_path = PurePosixPath(KERNEL_ID, "work", ".bashrc")
    chmod = Step(stage="dotfiles", effect=Chmod(path=bashrc_path, mode=0o600))
    steps = [*plan.steps, chmod]
    plan = seal(plan.header, steps, plan.blobs, edges_of(steps))
    last = len(steps) - 1
    fail = fail_at(last)
    edited: list[bytes] = []

    def edit_then_fail(index: int, step: Step) -> None:
        if index == last:  # the last byte only: the same size, other content
            written = bashrc.read_bytes()
            assert written.startswith(data.encode())
            edited.append(written[:-1] + b"!")
            bashrc.write_bytes(edited[0])
        fail(index, step)

    options = ApplyOptions(
        journal=tmp_path / "journal", tools=tools(), parallel=1, on_step=edit_then_fail
    )
    result = asyncio.run(apply_plan(plan, options))
    assert isinstance(result, Failure)
    rollback = result.failure().rollback
    assert not rollback.failures
    changed = {c.path: c.reason for c in rollback.changed}
    work = f"{KERNEL_ID}/work"
    assert "not what the apply wrote" in changed[f"{work}/.bashrc"]
    assert bashrc.read_bytes() == edited[0]
    # Everything else is undone: what is left is the edited file and the
    # directories that hold it, which the rollback reports as not empty.
    left = {str(path) for path, _ in snapshot(root).entries} - {
        str(path) for path, _ in before.entries
    }
    assert left == {KERNEL_ID, work, f"{work}/.bashrc"}
    assert set(changed) == left


@needs_root
def test_an_in_process_undo_of_unchanged_files_hashes_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spy, not a stand-in: the real digest runs, and is counted.
    hashed: list[str] = []

    def counted(fd: int, size: int | None = None) -> tuple[str, int]:
        hashed.append(str(Path(f"/proc/self/fd/{fd}").readlink()))
        return digest_of(fd, size)

    monkeypatch.setattr(confined_fs, "digest_of", counted)
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(root)
    dotfiles = [{"path": "/home/work/.bashrc", "perm": "600", "data": LARGE}]
    _, plan = plan_at(root, **{"kernel_config.internal_data.dotfiles": dotfiles})
    options = ApplyOptions(
        journal=tmp_path / "journal", tools=tools(), on_step=fail_at(deepest(plan))
    )
    result = asyncio.run(apply_plan(plan, options))
    assert isinstance(result, Failure)
    assert result.failure().rollback.complete
    assert snapshot(root) == before
    written = {
        str(root / str(s.effect.path))
        for s in plan.steps
        if isinstance(s.effect, WriteFile)
    }
    assert len(written) > 1
    assert written.isdisjoint(hashed)  # the host key's files, made there, are hashed
