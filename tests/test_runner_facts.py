"""The runner package's facts (``executor.runner_facts``) on real files.

Each copied file is the file its name leads to (links followed, as legacy copies
the resolved source); an unchanged file's encoded content is reused, the same
text, once its change time is older than the racy window; any change is seen.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

import executor._fact_gathering as gathering
from effects import RUNNER_ASSETS
from executor import runner_facts

NAME, OTHER, THIRD = sorted(RUNNER_ASSETS)[:3]
# Above any kernel clock tick: a change this much later has a later change time.
TICK = 0.05


def _content(facts: dict[str, object], name: str) -> bytes:
    files = facts["files"]
    assert isinstance(files, dict)
    return base64.b64decode(files[name]["content_base64"])


def _text(facts: dict[str, object], name: str) -> str:
    files = facts["files"]
    assert isinstance(files, dict)
    text = files[name]["content_base64"]
    assert isinstance(text, str)
    return text


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file counts as settled at once (no racy window), cache emptied."""
    monkeypatch.setattr(gathering, "_SETTLED", -(10**18))
    monkeypatch.setattr(gathering, "_ENCODED", {})


def test_links_are_followed_and_other_entries_left_out(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"linked content\n")
    elsewhere.chmod(0o640)
    runner = tmp_path / "runner"
    runner.mkdir()
    (runner / NAME).symlink_to(elsewhere)
    (runner / OTHER).mkdir()  # a directory is no file to copy
    (runner / THIRD).symlink_to(tmp_path / "nowhere")  # dangling
    facts = runner_facts(runner)
    files = facts["files"]
    assert isinstance(files, dict)
    assert set(files) == {NAME}
    assert _content(facts, NAME) == b"linked content\n"
    assert files[NAME]["mode"] == "0o640"


def test_an_unchanged_settled_file_gives_the_same_text(
    tmp_path: Path, settled: None
) -> None:
    del settled
    (tmp_path / NAME).write_bytes(b"x" * 4096)
    first, again = runner_facts(tmp_path), runner_facts(tmp_path)
    assert _text(first, NAME) is _text(again, NAME)  # reused, not read again


def test_a_change_in_place_is_seen_even_with_its_times_put_back(
    tmp_path: Path, settled: None
) -> None:
    del settled
    path = tmp_path / NAME
    path.write_bytes(b"before\n")
    old = path.stat()
    assert _content(runner_facts(tmp_path), NAME) == b"before\n"
    time.sleep(TICK)  # the write below gets a later change time
    with path.open("r+b") as file:  # same inode, same size
        file.write(b"after!\n")
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # the ctime moves on
    assert _content(runner_facts(tmp_path), NAME) == b"after!\n"


def test_a_replaced_file_and_a_new_mode_are_seen(tmp_path: Path, settled: None) -> None:
    del settled
    path = tmp_path / NAME
    path.write_bytes(b"one\n")
    assert _content(runner_facts(tmp_path), NAME) == b"one\n"
    staged = tmp_path / "staged"
    staged.write_bytes(b"two\n")
    staged.replace(path)  # another inode
    assert _content(runner_facts(tmp_path), NAME) == b"two\n"
    path.chmod(0o600)
    files = runner_facts(tmp_path)["files"]
    assert isinstance(files, dict)
    assert files[NAME]["mode"] == "0o600"


def test_a_file_changed_within_the_racy_window_is_read_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gathering, "_ENCODED", {})
    (tmp_path / NAME).write_bytes(b"fresh\n")  # its ctime is now: not settled
    first, again = runner_facts(tmp_path), runner_facts(tmp_path)
    assert _text(first, NAME) == _text(again, NAME)
    assert _text(first, NAME) is not _text(again, NAME)  # read twice
