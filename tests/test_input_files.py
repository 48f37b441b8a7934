"""Input files (contexts, plans, trees) are read only when regular, and bounded.

``kplan plan /dev/zero`` used to read until the kernel killed it, and a FIFO
blocked forever (issue 9, item 5).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kplan._input_files import INPUT_LIMIT, read_input_file

from .commands import kplan


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 3_000_000)
    assert read_input_file(tmp_path / "f").unwrap() == b"x" * 3_000_000


@pytest.mark.parametrize("command", ["plan", "expect", "apply"])
def test_dev_zero_is_refused_at_once(command: str) -> None:
    done = kplan(command, "/dev/zero")
    assert done.returncode == 1
    assert "/dev/zero: a character device, not a regular file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "ctx.json"
    os.mkfifo(fifo)
    for command in ("plan", "apply"):
        done = kplan(command, str(fifo))  # would block for ever if it waited
        assert done.returncode == 1
        assert "a FIFO, not a regular file" in done.stderr


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert read_input_file(tmp_path).failure() == (
        f"{tmp_path}: a directory, not a regular file"
    )


def test_a_file_over_the_limit_is_refused_naming_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(INPUT_LIMIT + 1)  # sparse: costs no disk
    done = kplan("plan", str(big))
    assert done.returncode == 1
    assert "larger than the 64 MiB limit for input files" in done.stderr
    with big.open("wb") as handle:
        handle.truncate(INPUT_LIMIT)
    assert len(read_input_file(big).unwrap()) == INPUT_LIMIT


def test_plan_files_and_tree_files_go_through_it_too(tmp_path: Path) -> None:
    fifo = tmp_path / "tree.json"
    os.mkfifo(fifo)
    done = kplan("diff", "sample", "--against", str(fifo))
    assert done.returncode == 1
    assert "a FIFO, not a regular file" in done.stderr
    assert "Traceback" not in done.stderr
