"""``gather_facts``: observe the host before planning (architecture.md §3.1).

Reads, never writes: the process identity, umask, architecture and rlimits, the
runner package (the files provisioning copies, its listing) and the krunner
packages' python versions, the kernel's existing scratch entries (with the content
of small files, which a restart reads back), the host paths legacy probes for
intrinsic mounts and RDMA, and the local container-opts files. Docker's facts
(volumes, the image) come from ``docker_facts``. The result is the ``facts``
section of a context document (docs/context.md).
"""

from __future__ import annotations

import base64
import errno
import json
import os
import platform
import re
import resource
import secrets
import stat
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from effects import RUNNER_ASSETS, kernel_entries, tree_document
from effects.decoding import mode_text

from ._directory_snapshot import snapshot
from ._tools import dropbear_binary

__all__ = [
    "arch_name",
    "gather_facts",
    "host_probes",
    "krunner_python",
    "rlimits",
    "runner_facts",
    "scratch_facts",
]

SMALL_FILE = 256 * 1024  # content kept for files a restart may read back
# What restart_kernel reads back whatever its size: kconfig.dat pickles the
# whole kernel config, dotfiles included, so it can well pass SMALL_FILE.
READ_BACK = ("config/kconfig.dat", "config/cluster.json")
LXCFS = Path("/var/lib/lxcfs")


def gather_facts(
    scratch_root: Path,
    kernel_id: str,
    runner_dir: Path,
    *,
    restarting: bool,
    krunner_volumes: Iterable[str] = (),
    socket_proxies: int = 0,
    docker_volumes: tuple[str, ...] = (),
    image_present: bool | None = None,
    image_id: str | None = None,
    host_ports: Sequence[int] | None = None,
) -> dict[str, object]:
    """The ``facts`` section for a kernel on this host (docs/context.md).

    Only a restart reads the kernel's previous scratch (§15); a new kernel is
    provisioned from nothing, so its facts hold no scratch entries and a leftover
    in the way is met by the executor, which names the effect it blocks.
    ``krunner_volumes`` are the agent's krunner distro keys, whose python versions
    are read from their packages; one random proxy name is drawn per socket proxy.
    Docker's facts come from the caller (``docker_facts``). Reads, never writes.
    """
    tree, contents = scratch_facts(scratch_root, kernel_id) if restarting else ([], {})
    return {
        "is_root": os.geteuid() == 0,
        "uid": os.geteuid(),
        "gid": os.getegid(),
        "umask": mode_text(current_umask()),
        "arch": arch_name(),
        "scratch_root_resolved": os.path.realpath(scratch_root),
        "runner": runner_facts(runner_dir),
        "krunner_python": krunner_python(runner_dir, krunner_volumes),
        "scratch": tree,
        "contents": contents,
        "host": host_probes(),
        "docker_volumes": list(docker_volumes),
        "image_present": image_present,
        "image_id": image_id,
        "seccomp_profile_base64": _seccomp(runner_dir),
        "host_ports": None if host_ports is None else list(host_ports),
        "rlimits": rlimits(),
        "container_opts": container_opts(),
        "socket_proxy_tokens": [secrets.token_hex(12) for _ in range(socket_proxies)],
    }


ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "x64": "x86_64", "x32": "x86"}
CONTAINER_OPTS = "agent-docker-container-opts.json"


def arch_name() -> str:
    """The machine's architecture as the agent names it (``get_arch_name``)."""
    machine = platform.machine().lower()
    return ARCH_ALIASES.get(machine, "x86" if machine == "i686" else machine)


def krunner_python(runner_dir: Path, keys: Iterable[str]) -> dict[str, str | None]:
    """Per krunner distro key, its package's python version (§9.2).

    The package ``ai.backend.krunner.<prefix>`` lies beside the runner package;
    ``None``: it has no version file; a key without a package is left out.
    """
    found: dict[str, str | None] = {}
    for key in keys:
        match = re.search(r"^([a-z-]+)(\d+(\.\d+)*)?$", key)
        if match is None:
            continue
        package = runner_dir.parent / "krunner" / match.group(1).replace("-", "_")
        if not package.is_dir():
            continue
        version = package / f"krunner-python.{key}.txt"
        found[key] = version.read_text().strip() if version.is_file() else None
    return found


def rlimits() -> dict[str, list[int]]:
    """This process's nofile and memlock limits, ``-1`` for unlimited (§14.2)."""
    limits = {}
    for name, which in (
        ("nofile", resource.RLIMIT_NOFILE),
        ("memlock", resource.RLIMIT_MEMLOCK),
    ):
        soft, hard = resource.getrlimit(which)
        limits[name] = [
            -1 if value == resource.RLIM_INFINITY else value for value in (soft, hard)
        ]
    return limits


def container_opts() -> list[object]:
    """The local container-opts files legacy merges, in its order (§14.4 step 7)."""
    documents = []
    for directory in (
        Path("/etc/backend.ai"),
        Path.home() / ".config" / "backend.ai",
        Path.cwd(),
    ):
        path = directory / CONTAINER_OPTS
        if path.is_file():
            documents.append(json.loads(path.read_bytes()))
    return documents


def _seccomp(runner_dir: Path) -> str | None:
    path = runner_dir / "default-seccomp.json"
    return (
        base64.b64encode(path.read_bytes()).decode("ascii") if path.is_file() else None
    )


def current_umask() -> int:
    """The process umask, read without changing it (``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no procfs: read by setting, and put it back at once
    os.umask(mask)
    return mask


def runner_facts(runner_dir: Path) -> dict[str, object]:
    """The runner files provisioning copies, its listing, whether dropbear is there."""
    files = {}
    for name in RUNNER_ASSETS:
        found = _runner_file(runner_dir / name)
        if found is not None:
            files[name] = found
    return {
        "origin": str(runner_dir.resolve()),
        "files": files,
        "has_dropbear": dropbear_binary(runner_dir).exists(),
        "listing": sorted(p.name for p in runner_dir.iterdir())
        if runner_dir.is_dir()
        else [],
    }


def _runner_file(path: Path) -> dict[str, str] | None:
    """A copied runner file's mode and content: of the file its name leads to
    (legacy copies the resolved source; ``stat`` and ``open`` follow the same
    links), ``None`` when that is no regular file.

    Every plan reads the same package, most of it fonts: an unchanged file's
    encoded content is reused, the same text, which the planner's cache of
    decoded runner blobs then finds without hashing it again. Unchanged means the
    same inode, mode, size, modification and change time, and a change time
    older than ``_SETTLED`` when it was read: a write within the clock's
    granularity of the read could keep both times (git's "racily clean" index
    entries), so a file changed that recently is read again each time. Threads
    may gather at once: each lookup and store is one dict operation.
    """
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno in _NO_FILE:
            return None
        raise
    if not stat.S_ISREG(info.st_mode):
        return None
    key = (
        str(path),
        info.st_dev,
        info.st_ino,
        info.st_mode,
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
    )
    cached = _ENCODED.get(key)
    if cached is None:
        read_at = time.time_ns()
        cached = {
            "mode": mode_text(info.st_mode & 0o7777),
            "content_base64": base64.b64encode(path.read_bytes()).decode("ascii"),
        }
        if settled(info.st_ctime_ns, read_at):
            if len(_ENCODED) >= _KEPT:
                _ENCODED.clear()  # an agent's one package never gets here
            _ENCODED[key] = cached
    return dict(cached)


# What ``Path.is_file`` takes for "no file there".
_NO_FILE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})
_SETTLED = 2_000_000_000  # ns: well above any filesystem's timestamp granularity


def settled(changed_at: int, looked_at: int) -> bool:
    """Whether a time (ns) seen in a look at ``looked_at`` (``time.time_ns()``
    taken before the look) is old enough that any later change gives another:
    a change within the clock's granularity of the look could keep it (git's
    "racily clean" index entries), so a cache keyed by it waits ``_SETTLED``."""
    return looked_at - changed_at > _SETTLED


_KEPT = 256  # encoded runner files kept (ten per package)
_ENCODED: dict[tuple[str, int, int, int, int, int, int], dict[str, str]] = {}


def scratch_facts(
    scratch_root: Path, kernel_id: str
) -> tuple[list[dict[str, object]], dict[str, str]]:
    """The kernel's existing entries below the scratch root and small file contents."""
    if not scratch_root.is_dir():
        return [], {}
    names = set(kernel_entries(kernel_id))
    read_back = {f"{kernel_id}/{name}" for name in READ_BACK}

    def keep(path: PurePosixPath, size: int) -> bool:
        if str(path) in read_back:
            return True
        return size <= SMALL_FILE and path.suffix != ".img"

    tree, contents = snapshot(
        scratch_root, include=lambda path: str(path) in names, keep_content=keep
    )
    encoded = {
        digest: base64.b64encode(data).decode("ascii")
        for digest, data in contents.items()
    }
    return tree_document(tree), encoded


def host_probes() -> dict[str, object]:
    """The host paths legacy looks at (§5 rows 4-7, §7)."""
    cpu = LXCFS / "sys/devices/system/cpu"
    lxcfs = LXCFS.is_dir()
    proc = LXCFS / "proc"
    return {
        "platform": sys.platform,
        "etc_localtime": Path("/etc/localtime").exists(),
        "etc_timezone": Path("/etc/timezone").exists(),
        "lxcfs": lxcfs,
        "lxcfs_proc": [p.name for p in proc.iterdir() if p.stat().st_size > 0]
        if lxcfs and proc.is_dir()
        else [],
        "lxcfs_cpu": lxcfs and cpu.exists(),
        "lxcfs_cpu_online": lxcfs and (cpu / "online").exists(),
        "infiniband": Path("/dev/infiniband").is_dir()
        and Path("/dev/infiniband/uverbs0").exists(),
    }
