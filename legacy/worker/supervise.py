"""The process layout of one run: fork, pipes, the timeout, reaping.

Theory of operation
-------------------
The parent (a child subreaper) forks the *supervisor* and waits on its report pipe
until the deadline. The supervisor (own session, so one ``killpg`` ends the whole
run) confines itself (``sandbox``), forks the *runner* and waits for its report
without a deadline, snapshots the scratch tree as root and unmounts. On timeout the
parent SIGKILLs the run's process group, reaps every descendant and snapshots the
host-side view itself. Either way the parent then removes the temp dir.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfinementError
from .legacy_modules import Legacy
from .libc import set_pdeathsig
from .mount_table import unmount_below
from .protocol import (
    JSONObject,
    decode_report,
    error_json,
    log,
    log_entry,
    not_run,
    report_and_exit,
    simple_error,
)
from .run_dirs import RunPaths, remove_run_dir
from .run_process import runner_main
from .sandbox import prepare_sandbox
from .tree_snapshot import snapshot_rules, snapshot_tree


def fork_run(
    legacy: Legacy,
    context: Mapping[str, Any],
    paths: RunPaths,
    timeout: float,
    protocol_fds: Sequence[int],
) -> JSONObject:
    """Fork the supervisor, wait up to ``timeout``, clean up; return response fields."""
    deadline = time.monotonic() + timeout
    read_fd, write_fd = os.pipe()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        supervisor_main(legacy, context, paths, write_fd, protocol_fds)
    os.close(write_fd)
    data, finished = _read_and_close(read_fd, deadline)
    kill_and_reap(pid)  # before reaping: a zombie keeps the pgid from being reused
    body = _run_body(data, context, paths, timeout, finished=finished)
    body["logs"] = list(body.get("logs", [])) + remove_run_dir(paths)
    body["ok"] = body.get("error") is None
    return body


def _run_body(
    data: bytes,
    context: Mapping[str, Any],
    paths: RunPaths,
    timeout: float,
    *,
    finished: bool,
) -> JSONObject:
    """The supervisor's report, or what the parent can say without one."""
    if finished and data:
        return decode_report(data)
    if finished:
        message = "the sandboxed run died without a report"
        return {"error": simple_error("SupervisorCrashed", message, "supervisor")}
    return _timeout_body(context, paths, timeout)


def _timeout_body(
    context: Mapping[str, Any], paths: RunPaths, timeout: float
) -> JSONObject:
    """The host-side tree and a ``Timeout`` error (the run was killed)."""
    snap = snapshot_tree(paths.scratch, snapshot_rules(context))
    message = (
        f"legacy did not finish within {timeout} s; the run was killed. "
        "The tree is the host-side view of the scratch root "
        "(mounts made inside the run are not visible)."
    )
    return {
        "tree": snap.tree,
        "contents": snap.contents,
        "logs": [log_entry(p) for p in snap.problems],
        "error": simple_error("Timeout", message, None),
    }


def kill_and_reap(pgid: int, grace_seconds: float = 5.0) -> None:
    """SIGKILL the run's process group and reap every descendant (we are a subreaper).

    ``pgid`` is the supervisor's pid; it is also killed directly in case it had not yet
    called ``setsid`` (it forks nothing before that).
    """
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pgid, signal.SIGKILL)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)
    log.warning("some processes of run group %d were not reaped in time", pgid)


def supervisor_main(
    legacy: Legacy,
    context: Mapping[str, Any],
    paths: RunPaths,
    result_fd: int,
    inherited: Sequence[int],
) -> None:
    """First child body (never returns)."""
    try:
        os.setsid()  # own process group: the parent kills the whole group on timeout
        set_pdeathsig()
        for fd in inherited:
            os.close(fd)
        isolate_stdio()
        result = supervise(legacy, context, paths)
    except BaseException as exc:  # noqa: BLE001
        result = not_run(error_json(exc, "supervisor"))
    report_and_exit(result_fd, result)


def isolate_stdio() -> None:
    """Keep children off the protocol pipes: stdin <- /dev/null, stdout -> stderr."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)


def supervise(
    legacy: Legacy, context: Mapping[str, Any], paths: RunPaths
) -> JSONObject:
    """Confine, run legacy, snapshot, unmount; returns the response body (minus id)."""
    try:
        sandbox = prepare_sandbox(legacy, context, paths)
    except (OSError, ConfinementError) as exc:
        return not_run(error_json(exc, "confine"))
    result = run_runner(legacy, context, paths)
    snap = snapshot_tree(paths.scratch, snapshot_rules(context))
    result["tree"], result["contents"] = snap.tree, snap.contents
    result["proxy_sockets"] = list_sockets(sandbox.proxy_dirs)
    logs = [log_entry(n) for n in sandbox.notes] + list(result.get("logs", []))
    logs += [log_entry(p) for p in snap.problems]
    logs += [log_entry(f"unmount failed: {e}") for e in unmount_below(paths.base)]
    result["logs"] = logs
    return result


def list_sockets(directories: Sequence[str]) -> list[JSONObject]:
    """What legacy left in the namespace-only proxy dirs (path, type, mode)."""
    found: list[JSONObject] = []
    for directory in directories:
        for name in sorted(os.listdir(directory)):
            st = os.lstat(os.path.join(directory, name))
            kind = "socket" if stat.S_ISSOCK(st.st_mode) else "other"
            mode = "0o" + format(stat.S_IMODE(st.st_mode), "o")
            found.append(
                {"path": os.path.join(directory, name), "type": kind, "mode": mode}
            )
    return found


def run_runner(
    legacy: Legacy, context: Mapping[str, Any], paths: RunPaths
) -> JSONObject:
    """Fork the runner and wait for its report (the parent enforces the timeout)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        runner_main(legacy, context, paths, write_fd)
    os.close(write_fd)
    data, _ = read_until_eof(read_fd, None)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if not data:
        message = f"legacy runner died without a report (wait status {status})"
        return {"error": simple_error("RunnerCrashed", message, "runner")}
    return decode_report(data)


def _read_and_close(fd: int, deadline: float) -> tuple[bytes, bool]:
    """``read_until_eof``, closing ``fd`` whatever happens."""
    try:
        return read_until_eof(fd, deadline)
    finally:
        os.close(fd)


def read_until_eof(fd: int, deadline: float | None) -> tuple[bytes, bool]:
    """Read a pipe to EOF; return (data, reached_eof): False if the deadline passed."""
    chunks: list[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        timeout_ms = None
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"".join(chunks), False
            timeout_ms = max(1, int(remaining * 1000))
        if not poller.poll(timeout_ms):
            continue
        data = os.read(fd, 1 << 20)
        if not data:
            return b"".join(chunks), True
        chunks.append(data)
