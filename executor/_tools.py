"""Finding the programs the executor runs."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

from ._confined_fs import Tools

__all__ = ["default_tools"]


def default_tools(runner_dir: Path | None) -> Tools:
    """Tools for this host: the runner's dropbear (as legacy runs it) or dropbearkey."""
    dropbear = None
    if runner_dir is not None:
        binary = runner_dir / f"dropbearmulti.{platform.machine()}.bin"
        if binary.is_file():
            dropbear = [str(binary), "dropbearkey"]
    if dropbear is None and (found := shutil.which("dropbearkey")) is not None:
        dropbear = [found]
    return Tools(
        dropbearkey=dropbear,
        mount=shutil.which("mount") or "/bin/mount",
        umount=shutil.which("umount") or "/bin/umount",
        mkfs=shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4",
    )
