"""``gather_facts``: observe the host before planning (architecture.md §3.1).

Reads, never writes: the process identity and umask, the runner package files,
the kernel's existing scratch entries (with the content of small files, which a
restart reads back), the host paths legacy probes for intrinsic mounts and RDMA,
and, when a Docker client is given, the volume list and whether the image is
present. The result is the ``facts`` section of a context document.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

from effects import RUNNER_ASSETS, kernel_entries, mode_text, tree_document

from ._directory_snapshot import snapshot
from ._tools import dropbear_binary

__all__ = ["gather_facts", "host_probes", "runner_facts", "scratch_facts"]

SMALL_FILE = 256 * 1024  # content kept for files a restart may read back
LXCFS = Path("/var/lib/lxcfs")


def gather_facts(
    scratch_root: Path,
    kernel_id: str,
    runner_dir: Path,
    *,
    restarting: bool,
    docker_volumes: tuple[str, ...] = (),
    image_present: bool | None = None,
) -> dict[str, object]:
    """The ``facts`` section for a kernel on this host.

    Only a restart reads the kernel's previous scratch (§15); a new
    kernel is provisioned from nothing, so its facts hold no scratch entries and a
    leftover in the way is met by the executor, which names the effect it blocks.
    """
    tree, contents = scratch_facts(scratch_root, kernel_id) if restarting else ([], {})
    return {
        "is_root": os.geteuid() == 0,
        "uid": os.geteuid(),
        "gid": os.getegid(),
        "umask": mode_text(current_umask()),
        "scratch_root_resolved": os.path.realpath(scratch_root),
        "runner": runner_facts(runner_dir),
        "scratch": tree,
        "contents": contents,
        "host": host_probes(),
        "docker_volumes": list(docker_volumes),
        "image_present": image_present,
        "seccomp_profile_base64": _seccomp(runner_dir),
    }


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
    """The runner files provisioning copies, and whether dropbear is there."""
    files = {}
    for name in RUNNER_ASSETS:
        path = (runner_dir / name).resolve()  # legacy copies the resolved source
        if path.is_file():
            files[name] = {
                "mode": mode_text(path.stat().st_mode & 0o7777),
                "content_base64": base64.b64encode(path.read_bytes()).decode("ascii"),
            }
    return {
        "origin": str(runner_dir),
        "files": files,
        "has_dropbear": dropbear_binary(runner_dir).exists(),
    }


def scratch_facts(
    scratch_root: Path, kernel_id: str
) -> tuple[list[dict[str, object]], dict[str, str]]:
    """The kernel's existing entries below the scratch root and small file contents."""
    if not scratch_root.is_dir():
        return [], {}
    names = set(kernel_entries(kernel_id))
    tree, contents = snapshot(
        scratch_root,
        include=lambda path: str(path) in names,
        keep_content=lambda path, size: size <= SMALL_FILE and path.suffix != ".img",
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
