"""Domain-socket proxies (§5 row 11): one small process per proxy, outliving kplan.

Legacy serves each proxy from the agent's own event loop, so a proxy lives exactly
as long as the agent process and a failed creation leaks it. kplan's kernel must
outlive ``kplan apply``, so each proxy is a detached process of its own
(``python -m executor._socket_proxy PATH TARGET``): it binds the unix socket at
``PATH`` (mode 0666, as legacy's), pipes every connection to ``TARGET`` both ways,
and exits as soon as its socket is removed or replaced (it looks every
``POLL_SECONDS``). Removing the socket is therefore how the undo, or whoever
destroys the kernel, stops it: no pid has to be journaled or trusted.

``start_proxy`` returns once the socket accepts connections, or raises
``HostError`` with the child's own reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._records import ProxyPrior
from .errors import HostError

__all__ = [
    "POLL_SECONDS",
    "START_TIMEOUT",
    "make_dirs",
    "observe_proxy",
    "start_proxy",
    "stop_proxy",
]

POLL_SECONDS = 0.2
START_TIMEOUT = 20.0
CHUNK = 64 * 1024
READY = b"ready\n"
OPERATION = "serve socket proxy"


def observe_proxy(path: Path) -> ProxyPrior:
    """Prior of ``ServeSocketProxy``: nothing at ``path`` yet; the missing dirs."""
    if os.path.lexists(path):
        raise HostError(OPERATION, str(path), "something is there already")
    missing = []
    for directory in path.parents:
        if directory.exists():
            break
        missing.append(str(directory))
    return ProxyPrior(made=tuple(reversed(missing)))


def make_dirs(made: Sequence[str]) -> None:
    """Create the proxy directories the prior found missing, outermost first."""
    for directory in made:
        try:
            Path(directory).mkdir(0o755)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours, and kept
        except OSError as exc:
            raise HostError(OPERATION, directory, exc.strerror or str(exc)) from exc


def start_proxy(path: Path, target: str) -> None:
    """Start the proxy process for ``path``; return when it serves (blocking)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "executor._socket_proxy", str(path), target],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not stopped with kplan's process group
    )
    assert child.stdout is not None  # noqa: S101  (stdout=PIPE)
    with child.stdout:
        answer = _read_answer(child.stdout.fileno(), START_TIMEOUT)
    if answer != READY:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
    child.wait()  # the server forked off it: this is the exit of its parent
    if answer == READY:
        return
    reason = answer.decode(errors="replace").strip() or (
        f"the proxy process gave no answer within {START_TIMEOUT:.0f} s"
    )
    raise HostError(OPERATION, str(path), reason)


def _read_answer(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    answer = b""
    while not answer.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        answer += chunk
    return answer


def stop_proxy(path: str, made: Sequence[str]) -> None:
    """Remove the proxy's socket (its process exits) and the now empty dirs it made.

    Only a socket is removed: anything else at ``path`` is not the proxy's. A
    directory that is not empty holds someone else's entries and stays.
    """
    entry = Path(path)
    try:
        info = entry.lstat()
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISSOCK(info.st_mode):
        try:
            entry.unlink(missing_ok=True)
        except OSError as exc:
            raise HostError("stop socket proxy", path, str(exc.strerror)) from exc
    for directory in reversed(made):
        try:
            Path(directory).rmdir()
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno in {errno.ENOTEMPTY, errno.EEXIST}:
                continue
            raise HostError("stop socket proxy", directory, str(exc.strerror)) from exc


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # the other side went away: close ours too
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _connection(
    target: str, down_reader: asyncio.StreamReader, down_writer: asyncio.StreamWriter
) -> None:
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(target)
    except OSError:
        down_writer.close()  # the target is not there: refuse this connection only
        return
    await asyncio.gather(_pipe(up_reader, down_writer), _pipe(down_reader, up_writer))


async def _serve(listener: socket.socket, target: str, inode: int) -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await _connection(target, reader, writer)

    path = Path(listener.getsockname())
    server = await asyncio.start_unix_server(handle, sock=listener)
    async with server:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if not _still_mine(path, inode):
                return  # removed (kernel gone, apply undone) or replaced


def _bind(path: str) -> tuple[socket.socket, int]:
    """The listening socket at ``path`` in legacy's mode; its inode."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    Path(path).chmod(0o666)  # legacy's mode (§5 row 11): any container user
    listener.listen(128)
    return listener, Path(path).stat().st_ino


def _still_mine(socket_path: Path, inode: int) -> bool:
    try:
        return socket_path.stat().st_ino == inode
    except FileNotFoundError:
        return False


def main(argv: Sequence[str]) -> int:
    """The proxy process: ``PATH TARGET``; binds, detaches, answers, serves.

    It forks once the socket is bound, and the parent exits at once: the server
    is then nobody's child but init's (``start_proxy`` reaps the parent), and it
    answers on the inherited pipe only after it is on its own.
    """
    path, target = argv
    try:
        listener, inode = _bind(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.write(1, f"cannot serve {path}: {exc.strerror or exc}\n".encode())
        return 1
    if os.fork() != 0:
        os._exit(0)  # the parent: nothing of asyncio to clean up yet
    os.write(1, READY)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the parent stops reading: nothing more goes to the pipe
    os.close(devnull)
    asyncio.run(_serve(listener, target, inode))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
