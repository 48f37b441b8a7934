"""Bounded memory: prior contents are streamed to the journal's private directory.

A 200 MiB sparse ``.vimrc`` used to make a restart take 1 GB of memory and write a
280 MB journal (its content base64 inside JSON). Now the journal holds a name and a
digest, the copy is streamed in chunks and stays sparse, and so does the restore
(issue 9, item 7).
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from returns.result import Success

from .commands import ROOT
from .contexts import KERNEL_ID
from .executing import apply, context_file, needs_root, plan_at

pytestmark = needs_root
MIB = 1 << 20
SIZE = 200 * MIB
RSS_LIMIT = 120 * MIB  # kplan itself takes about 45 MiB
DOTFILES = {
    "kernel_config.internal_data.dotfiles": [
        {"path": "/home/work/.vimrc", "perm": "644", "data": "set number\n"}
    ]
}


# The child's own peak: ru_maxrss after a vfork/exec also counts the parent's (the
# test process's) pages, so the child reports VmHWM, the peak of its own memory.
_MEASURED = """
import atexit, runpy, sys
report = sys.argv.pop(1)

def peak():
    with open('/proc/self/status') as status:
        line = next(line for line in status if line.startswith('VmHWM:'))
    with open(report, 'w') as out:
        out.write(line.split()[1])

atexit.register(peak)
sys.argv[0] = 'kplan'
runpy.run_module('kplan', run_name='__main__', alter_sys=True)
"""


def _run_measured(*args: str) -> tuple[int, int, str]:
    """``python -m kplan ARGS``: exit code, its own peak resident bytes, stderr."""
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"kplan-hwm-{os.getpid()}"
    child = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(report), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    try:
        peak = int(report.read_text()) * 1024
    finally:
        report.unlink(missing_ok=True)
    return child.returncode, peak, child.stderr


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def test_a_huge_sparse_dotfile_costs_neither_memory_nor_journal_space(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, first = plan_at(root, **DOTFILES)
    assert isinstance(apply(first, tmp_path / "first"), Success)
    vimrc = root / KERNEL_ID / "work" / ".vimrc"
    with vimrc.open("r+b") as handle:
        handle.write(b"the user's vimrc\n")
        handle.truncate(SIZE)  # a hole up to 200 MiB
    original = _digest(vimrc)
    context = context_file(root, tmp_path / "restart.json", restarting=True, **DOTFILES)
    journal = tmp_path / "restart.jsonl"

    code, rss, stderr = _run_measured(
        "apply", str(context), "--scratch-only", "--journal", str(journal)
    )
    assert code == 0, stderr
    assert rss < RSS_LIMIT, f"apply peaked at {rss // MIB} MiB"
    assert journal.stat().st_size < 64 * 1024
    copies = (tmp_path / "restart.jsonl.private").glob("prior-*")
    copy = max(copies, key=lambda path: path.stat().st_size)
    assert copy.stat().st_size == SIZE
    assert _allocated(copy) < 4 * MIB  # the hole stayed a hole
    assert vimrc.read_bytes() == b"set number\n"

    code, rss, stderr = _run_measured("rollback", str(journal))
    assert code == 0, stderr
    assert rss < RSS_LIMIT, f"rollback peaked at {rss // MIB} MiB"
    assert vimrc.stat().st_size == SIZE
    assert _digest(vimrc) == original
    assert _allocated(vimrc) < 4 * MIB
    assert not (tmp_path / "restart.jsonl.private").exists()


def test_a_short_write_is_continued_until_it_fails_never_dropped(
    tmp_path: Path,
) -> None:
    # A write that crosses the file size limit writes part and returns short; the
    # next one fails with EFBIG. A copy must fail, never end silently truncated.
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(os.urandom(3 * MIB))
    script = f"""
import os, resource, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from executor._streams import copy_stream
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({2 * MIB + 12345}, resource.RLIM_INFINITY))
source = os.open({str(source)!r}, os.O_RDONLY)
target = os.open({str(target)!r}, os.O_WRONLY | os.O_CREAT, 0o600)
try:
    copy_stream(source, target)
except OSError as exc:
    print("failed", exc.errno, os.fstat(target).st_size)
else:
    print("copied", os.fstat(target).st_size)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["failed", str(errno.EFBIG), str(2 * MIB + 12345)]
