"""executor._streams: a copy hashes its whole chunks beside its writes, exactly."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor._streams import CHUNK, copy_stream

# Sizes around the chunk boundaries: a short first chunk is hashed in place, a
# whole one beside the write; an all-zero whole chunk is a hole, not written.
_PIECES = st.lists(
    st.sampled_from(["random", "zeros", "short"]), min_size=0, max_size=4
).map(lambda kinds: b"".join(_piece(kind, index) for index, kind in enumerate(kinds)))


def _piece(kind: str, index: int) -> bytes:
    if kind == "zeros":
        return bytes(CHUNK)
    if kind == "short":
        return bytes([index + 1]) * (CHUNK // 3 + index)
    return hashlib.sha256(bytes([index])).digest() * (CHUNK // 32)


def _copied(tmp_path: Path, data: bytes) -> tuple[str, int, bytes]:
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(data)
    target.unlink(missing_ok=True)
    read = os.open(source, os.O_RDONLY)
    write = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        digest, size = copy_stream(read, write)
    finally:
        os.close(read)
        os.close(write)
    return digest, size, target.read_bytes()


# Each example writes both files anew: one tmp_path serves them all.
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=_PIECES)
def test_a_copy_holds_the_bytes_and_their_digest(tmp_path: Path, data: bytes) -> None:
    digest, size, copy = _copied(tmp_path, data)
    assert copy == data
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_a_forked_child_copies_without_its_parents_hashing_threads(
    tmp_path: Path,
) -> None:
    # The parent's pool has threads the child does not: the child makes its own
    # (a pool it inherited would take the chunk and never hash it: a hang).
    data = os.urandom(3 * CHUNK)
    assert _copied(tmp_path, data)[0] == hashlib.sha256(data).hexdigest()
    (tmp_path / "child").mkdir()
    child = os.fork()
    if child == 0:  # pragma: no cover  (the child reports by its exit code)
        code = 1
        try:
            copied = _copied(tmp_path / "child", data)[0]
            code = 0 if copied == hashlib.sha256(data).hexdigest() else 1
        finally:
            os._exit(code)
    assert _exit_code(child, within=30.0) == 0


def _exit_code(child: int, within: float) -> int | None:
    """The child's exit code; ``None`` (the child killed) if it hangs."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    return None
