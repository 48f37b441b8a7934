"""What a person at a terminal sees: the apply's progress bar, coloured diffs.

The apply runs with its stderr on a real pseudo-terminal; the diff is rendered for
a terminal stream. Off a terminal neither changes a byte (the other tests read
that output).
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from kplan._render import Palette, render_diff
from planner import Diff, Difference

from .commands import ROOT
from .executing import context_file, needs_root

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@needs_root
def test_an_apply_on_a_terminal_draws_a_progress_bar(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    context = context_file(root, tmp_path / "ctx.json")
    leader, follower = pty.openpty()
    done = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kplan",
            "apply",
            str(context),
            "--scratch-only",
            "--journal",
            str(tmp_path / "journal"),
            "--format",
            "json",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(follower)
    screen = _read_all(leader).decode(errors="replace")
    stdout, _ = done.communicate(timeout=120)
    os.close(leader)
    assert done.returncode == 0, screen
    text = ANSI.sub("", screen)
    assert "apply" in text
    steps = len(orjson.loads(stdout)["steps"])
    assert f"{steps}/{steps}" in text  # the bar ends full
    assert "━" in text
    assert stdout.startswith(b"{")
    assert b"\x1b" not in stdout  # JSON stays plain


DIFF = Diff(
    differences=(
        Difference(kind="only-in-plan", path="k/config/a", plan="file", other=None),
        Difference(
            kind="content",
            path="k/config/environ.txt",
            plan="sha1",
            other="sha2",
            quirk="secret-file-modes",
            detail="--- plan\n+++ legacy\n@@ -1 +1 @@\n-A=1\n+A=2\n",
        ),
    ),
    normalised=("host keys are volatile",),
)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_diff_on_a_terminal_is_coloured_and_says_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    plain = render_diff(DIFF, Palette(io.StringIO()), "legacy")
    coloured = render_diff(DIFF, Palette(_Terminal()), "legacy")
    assert "\x1b[" not in plain
    assert ANSI.sub("", coloured) == plain
    assert "\x1b[1;32m+ only-in-plan" in coloured  # added: bold green
    assert "\x1b[31m-A=1" in coloured  # a removed line of the unified diff: red
    assert "\x1b[32m+A=2" in coloured


def test_no_color_turns_the_colours_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert not Palette(_Terminal()).on
    assert "\x1b[" not in render_diff(DIFF, Palette(_Terminal()), "legacy")
