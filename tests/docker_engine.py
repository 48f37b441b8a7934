"""A private, throwaway Docker engine for the test suite (design §9).

Theory of operation
-------------------
``start_engine(base)`` runs ``dockerd`` as root with design §9's flags and every path
under ``base``::

    base/data   --data-root   (images, containers; vfs, so no overlay mounts)
    base/exec   --exec-root   (the daemon's own containerd, shims, netns mounts)
    base/s      -H unix://    (kept short: unix socket paths end at ~107 bytes)
    base/pid    --pidfile
    base/dockerd.log          (stdout and stderr of the daemon)
    base/tmp                  ($TMPDIR of dockerd and containerd)

It then polls ``GET /_ping`` on the socket until the API answers. ``dockerd`` runs in
its own session, so a Ctrl-C aimed at pytest reaches the finalizer, not the daemon.

``stop_engine(engine)`` undoes everything, trying every step even when one fails:

1. SIGKILL the container workloads (descendants of this engine's containerd shims):
   a PID 1 such as ``sleep`` ignores SIGTERM, so dockerd would wait 10 s per container.
2. SIGTERM dockerd, wait, SIGKILL after ``STOP_TIMEOUT``.
3. SIGKILL whatever still names ``base`` on its command line (containerd, shims) and
   their descendants, and wait until they are gone.
4. Lazily unmount every mount point at or under ``base`` (deepest first).
5. Remove ``base``, but only when nothing is mounted under it any more: ``rmtree``
   would otherwise walk into a mounted file system.

``build_busybox_image`` loads a one-layer image made from Debian's static busybox
through ``POST /images/load``, because no registry is reachable and the ``docker`` CLI
is not a dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import struct
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Final, TypeAlias, final

import aiodocker
import attrs

__all__ = [
    "BUSYBOX",
    "DEFAULT_TAG",
    "Engine",
    "EngineError",
    "ReadyEngine",
    "build_busybox_image",
    "busybox_image_archive",
    "is_required",
    "make_base_dir",
    "prepare_kernel_support",
    "remove_kernel_network",
    "start_engine",
    "stop_engine",
    "unavailable_reason",
    "wait_for_api",
]

BUSYBOX: Final = Path("/bin/busybox")
DEFAULT_TAG: Final = "kplan-test/busybox:latest"
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 20.0
GONE_TIMEOUT: Final = 5.0
_POLL: Final = 0.05
_MAX_SOCKET_PATH: Final = 107
_LOG_TAIL: Final = 30
_APPLETS: Final = (
    *("sh", "sleep", "cat", "ls", "true", "false", "echo", "id", "ps"),
    *("nc", "printf", "mkdir", "env", "test", "cp"),
)
_PASSWD: Final = (
    b"root:x:0:0:root:/root:/bin/sh\nwork:x:1100:1200::/home/work:/bin/sh\n"
)
_GROUP: Final = b"root:x:0:\nwork:x:1200:\n"
KERNEL_NETWORK: Final = "kplan-test"
KRUNNER_VOLUME: Final = "backendai-krunner.v10.x86_64.static-gnu"
# What the krunner volume holds on an agent, as far as the kernel's mounts need:
# the bind targets of the kernel-runner and helpers packages must exist in it.
_KRUNNER_DIRS: Final = (
    "/v/lib/python3.13/site-packages/ai/backend/kernel",
    "/v/lib/python3.13/site-packages/ai/backend/helpers",
)
_DIRS: Final = ("etc", "dev", "home", "home/config", "home/work", "opt", "proc", "sys")
_GOARCH: Final = {"x86_64": "amd64", "aarch64": "arm64"}
_PT_INTERP: Final = 3

Member: TypeAlias = tuple[tarfile.TarInfo, bytes | None]  # a tar entry and its data


class EngineError(Exception):
    """The engine did not come up (the message carries the log tail) or did not stop."""


@final
@attrs.frozen(kw_only=True)
class Engine:
    """A running private dockerd; ``base`` holds all its state and is owned by it."""

    base: Path
    sock: Path
    log: Path
    process: subprocess.Popen[bytes] = attrs.field(eq=False, repr=False)

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    @property
    def pid(self) -> int:
        return self.process.pid


@final
@attrs.frozen(kw_only=True)
class ReadyEngine:
    """What the ``docker_engine`` fixture yields: the API URL, a loaded image tag, a
    bridge network for kernels (``alternative_bridge``) and the krunner volume."""

    url: str
    image: str
    network: str = KERNEL_NETWORK
    krunner_volume: str = KRUNNER_VOLUME


def unavailable_reason() -> str | None:
    """Why this machine cannot run the engine (no dockerd, no static busybox, not
    root), or None when it can."""
    if shutil.which("dockerd") is None:
        return f"dockerd is not on PATH={os.environ.get('PATH', '')!r} (docker.io)"
    if not BUSYBOX.is_file() or not _is_static(BUSYBOX):
        return f"{BUSYBOX} is missing or not static (apt package busybox-static)"
    if os.geteuid() != 0:
        return f"dockerd must run as root, but this process has euid {os.geteuid()}"
    return None


def is_required() -> bool:
    """True when ``KPLAN_REQUIRE_DOCKER=1``: a missing engine is then a failure."""
    return os.environ.get("KPLAN_REQUIRE_DOCKER") == "1"


def make_base_dir() -> Path:
    """A fresh, private directory for one engine (short, so the socket path fits)."""
    return Path(tempfile.mkdtemp(prefix="kplan-dockerd-"))


def start_engine(base: Path) -> Engine:
    """Start dockerd with every path under ``base`` and wait until its API answers.

    ``base`` is owned by the engine from here on: ``stop_engine`` removes it, and so
    does a failed start.

    Raises:
        EngineError: dockerd is not on PATH, the socket path is too long, or the API
            did not answer within ``START_TIMEOUT`` (the message ends with the log
            tail). No daemon is left running and ``base`` is gone.
    """
    sock, log = base / "s", base / "dockerd.log"
    try:
        process = _launch(base, sock, log)
    except BaseException:
        shutil.rmtree(base)
        raise
    engine = Engine(base=base, sock=sock, log=log, process=process)
    try:
        wait_for_api(engine)
    except BaseException as exc:
        _stop_noting(engine, exc)
        raise
    return engine


def _dockerd_flags(base: Path, sock: Path) -> list[str]:
    # Exactly design §9's flags: no host networking changes, vfs, private paths.
    return [
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=vfs",
        *("--data-root", str(base / "data")),
        *("--exec-root", str(base / "exec")),
        *("-H", f"unix://{sock}"),
        *("--pidfile", str(base / "pid")),
    ]


def _launch(base: Path, sock: Path, log: Path) -> subprocess.Popen[bytes]:
    """Spawn dockerd in its own session, output to ``log`` and $TMPDIR in ``base``.

    Raises:
        EngineError: no dockerd on PATH, ``sock`` is too long, or exec failed.
    """
    dockerd = shutil.which("dockerd")
    if dockerd is None or len(str(sock)) > _MAX_SOCKET_PATH:
        raise EngineError(f"cannot start dockerd={dockerd!r} on socket {sock}")
    tmp = base / "tmp"  # containerd writes stack dumps to $TMPDIR: keep them here
    tmp.mkdir()
    with log.open("wb") as out:
        try:
            return subprocess.Popen(
                [dockerd, *_dockerd_flags(base, sock)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TMPDIR": str(tmp)},
                start_new_session=True,  # pytest's Ctrl-C must reach the finalizer only
            )
        except OSError as exc:
            raise EngineError(f"cannot execute {dockerd}: {exc}") from exc


def _stop_noting(engine: Engine, exc: BaseException) -> None:
    """Stop a half-started engine; a failure to stop rides along as a note on exc."""
    try:
        stop_engine(engine)
    except Exception as stop_failure:  # noqa: BLE001 -- kept as a note, the start error propagates
        exc.add_note(f"stopping the failed engine also failed: {stop_failure!r}")


def wait_for_api(engine: Engine, timeout: float = START_TIMEOUT) -> None:
    """Return once ``GET /_ping`` answers 200 on the engine's socket.

    Raises:
        EngineError: dockerd exited, or ``timeout`` seconds passed; with the log tail.
    """
    deadline = time.monotonic() + timeout
    while not _pings(engine.sock):
        code = engine.process.poll()
        if code is not None:
            raise EngineError(f"dockerd exited with {code}:\n{_tail(engine.log)}")
        if time.monotonic() > deadline:
            raise EngineError(f"no /_ping after {timeout} s:\n{_tail(engine.log)}")
        time.sleep(_POLL)


def _pings(sock: Path) -> bool:
    """True if the API on ``sock`` answers ``GET /_ping`` with 200 OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(str(sock))
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status = conn.recv(4096).split(b"\r\n", 1)[0]
    except OSError:
        return False  # not listening yet: no socket, refused, or timed out
    return status.startswith(b"HTTP/1.") and status.split()[1:2] == [b"200"]


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return "\n".join(lines[-_LOG_TAIL:])


def stop_engine(engine: Engine) -> None:
    """Stop dockerd and every process it started, unmount what it left under
    ``base``, and remove ``base``.

    Every step runs even if an earlier one failed (see the module header).

    Raises:
        ExceptionGroup: the steps that failed; ``base`` is then kept only if something
            is still mounted under it.
    """
    steps = (_kill_workloads, _terminate, _kill_leftovers, _unmount_all, _remove_base)
    failures: list[Exception] = []
    for step in steps:
        try:
            step(engine)
        except Exception as exc:  # noqa: BLE001 -- collected and raised below
            failures.append(exc)
    if failures:
        raise ExceptionGroup(f"stopping the engine in {engine.base} failed", failures)


def _kill_workloads(engine: Engine) -> None:
    """SIGKILL the processes running inside this engine's containers."""
    table = _process_table()
    shims = {p for p in _engine_pids(engine, table) if "shim" in table[p][1]}
    _kill(_descendants(shims, table) - shims)


def _terminate(engine: Engine) -> None:
    """SIGTERM dockerd (which stops its containerd), SIGKILL it after a grace time."""
    engine.process.terminate()
    try:
        engine.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        engine.process.kill()
        engine.process.wait()


def _kill_leftovers(engine: Engine) -> None:
    """SIGKILL what outlived dockerd (containerd, shims); wait until it is gone.

    Raises:
        EngineError: some process still runs after ``GONE_TIMEOUT``.
    """
    _kill(_engine_pids(engine, _process_table()))
    deadline = time.monotonic() + GONE_TIMEOUT
    while left := _engine_pids(engine, _process_table()):
        if time.monotonic() > deadline:
            raise EngineError(f"engine processes survived SIGKILL: {sorted(left)}")
        time.sleep(_POLL)


def _unmount_all(engine: Engine) -> None:
    """Detach every mount at or under ``base``, deepest first.

    Raises:
        EngineError: ``umount`` failed (with its exit code and stderr).
    """
    for point in sorted(_mounts_under(engine.base), key=lambda p: -len(p.parts)):
        done = subprocess.run(
            ["umount", "--lazy", str(point)], capture_output=True, check=False
        )
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()
            raise EngineError(f"umount {point}: exit {done.returncode}: {detail}")


def _remove_base(engine: Engine) -> None:
    """Remove ``base``, refusing while anything is mounted under it."""
    if mounted := _mounts_under(engine.base):
        raise EngineError(f"still mounted, not removing {engine.base}: {mounted}")
    if engine.base.exists():
        shutil.rmtree(engine.base)


def _mounts_under(base: Path) -> list[Path]:
    """Mount points at or under ``base`` in this process's mount namespace."""
    text = Path("/proc/self/mountinfo").read_text()
    points = [_unescape(line.split()[4]) for line in text.splitlines()]
    return [p for p in points if p == base or base in p.parents]


def _unescape(field: str) -> Path:
    # mountinfo writes space, tab, newline and backslash as 3-digit octal escapes.
    return Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field))


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, command line) for every live, non-zombie process."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                if stat[0] != "Z":  # a zombie is dead; only its parent can reap it
                    table[int(entry.name)] = (int(stat[1]), cmdline.decode())
    return table


def _engine_pids(engine: Engine, table: dict[int, tuple[int, str]]) -> set[int]:
    """dockerd, every process naming ``base`` on its command line, and descendants."""
    roots = {p for p, (_, cmd) in table.items() if str(engine.base) in cmd}
    roots |= {engine.pid} & table.keys()
    return _descendants(roots, table) - {os.getpid()}


def _descendants(roots: set[int], table: dict[int, tuple[int, str]]) -> set[int]:
    """``roots`` and all their descendants in ``table``."""
    found = set(roots)
    grew = True
    while grew:
        children = {p for p, (ppid, _) in table.items() if ppid in found}
        grew = not children <= found
        found |= children
    return found


def _kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # already exited: the goal
            os.kill(pid, signal.SIGKILL)


def _is_static(path: Path) -> bool:
    """True if the ELF64 file at ``path`` has no PT_INTERP (needs no loader)."""
    elf = path.read_bytes()
    if elf[:5] != b"\x7fELF\x02":
        return False
    (phoff,) = struct.unpack_from("<Q", elf, 32)
    size, count = struct.unpack_from("<HH", elf, 54)
    types = (struct.unpack_from("<I", elf, phoff + i * size)[0] for i in range(count))
    return _PT_INTERP not in types


async def build_busybox_image(url: str, tag: str = DEFAULT_TAG) -> str:
    """Load the busybox test image into the engine at ``url`` as ``tag``.

    Returns:
        ``tag``.

    Raises:
        aiodocker.DockerError: the engine rejected the archive or lacks the tag after.
    """
    archive = await asyncio.to_thread(busybox_image_archive, tag)
    async with aiodocker.Docker(url=url) as docker:
        # A file object, not bytes: aiohttp warns that a large bytes body blocks.
        await docker.images.import_image(io.BytesIO(archive))
        await docker.images.inspect(tag)  # the load really produced the tag
    return tag


async def prepare_kernel_support(url: str, image: str) -> None:
    """The agent host's parts a kernel container needs: a bridge network for
    kernels (design §9: a network the test creates; Docker's userland proxy
    publishes its ports without iptables) and the krunner volume, populated."""
    async with aiodocker.Docker(url=url) as docker:
        await docker.networks.create({"Name": KERNEL_NETWORK, "Driver": "bridge"})
        await docker.volumes.create({"Name": KRUNNER_VOLUME})  # type: ignore[no-untyped-call]
        filler = await docker.containers.create(
            {
                "Image": image,
                "Cmd": ["mkdir", "-p", *_KRUNNER_DIRS],
                "HostConfig": {
                    "NetworkMode": "none",
                    "Mounts": [
                        {"Type": "volume", "Source": KRUNNER_VOLUME, "Target": "/v"}
                    ],
                },
            }
        )
        try:
            await filler.start()
            outcome = await filler.wait()
        finally:
            await filler.delete(force=True)
        if outcome.get("StatusCode") != 0:
            msg = f"filling the krunner volume failed: {outcome}"
            raise EngineError(msg)


def remove_kernel_network(url: str) -> None:
    """Remove the kernels' network (its bridge interface is the host's, not the
    engine's: stopping the engine would leave it behind)."""

    async def remove() -> None:
        async with aiodocker.Docker(url=url) as docker:
            for container in await docker.containers.list(all=True):
                await container.delete(force=True)
            with contextlib.suppress(aiodocker.DockerError):
                await (await docker.networks.get(KERNEL_NETWORK)).delete()

    asyncio.run(remove())


def busybox_image_archive(tag: str, busybox: Path = BUSYBOX) -> bytes:
    """A ``docker save`` archive of one layer holding ``busybox`` and its links."""
    layer = _rootfs_tar(busybox.read_bytes())
    diff_id = hashlib.sha256(layer).hexdigest()
    config = _image_config(f"sha256:{diff_id}")
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    layer_name = f"{diff_id}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]
    return _tar(
        [
            _file("manifest.json", json.dumps(manifest).encode(), 0o644),
            _file(config_name, config, 0o644),
            _file(layer_name, layer, 0o644),
        ]
    )


def _image_config(diff_id: str) -> bytes:
    arch = platform.machine()
    config = {
        "architecture": _GOARCH.get(arch, arch),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "kplan tests/docker_engine.py"}],
    }
    return json.dumps(config, sort_keys=True).encode()


def _rootfs_tar(busybox: bytes) -> bytes:
    """bin/busybox, a link per applet, /tmp (1777), the dirs of ``_DIRS``, the users."""
    members = [_dir("bin", 0o755), _file("bin/busybox", busybox, 0o755)]
    members += [_link(f"bin/{applet}", "busybox") for applet in _APPLETS]
    members += [_dir("tmp", 0o1777)] + [_dir(name, 0o755) for name in _DIRS]
    # the users a kernel image has: root (docker exec --user root) and work
    members += [
        _file("etc/passwd", _PASSWD, 0o644),
        _file("etc/group", _GROUP, 0o644),
    ]
    return _tar(members)


def _tar(members: list[Member]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return buffer.getvalue()


def _file(name: str, data: bytes, mode: int) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _dir(name: str, mode: int) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info, None


def _link(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    return info, None
