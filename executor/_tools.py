"""The external programs the executor runs, and where it finds them."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path
from typing import final

__all__ = ["Tools", "default_tools", "dropbear_binary"]


@final
class Tools:
    """The external programs the executor runs, by absolute path."""

    def __init__(
        self,
        dropbearkey: list[str] | None,
        mount: str = "mount",
        umount: str = "umount",
        mkfs: str = "mkfs.ext4",
    ) -> None:
        self.dropbearkey = dropbearkey
        self.mount = mount
        self.umount = umount
        self.mkfs = mkfs


def dropbear_binary(runner_dir: Path) -> Path:
    """The runner package's dropbear multi-binary (§8 step 2): it may be absent."""
    return runner_dir / f"dropbearmulti.{platform.machine()}.bin"


def default_tools(runner_dir: Path | None) -> Tools:
    """Tools for this host: the runner's dropbear (as legacy runs it) or dropbearkey."""
    dropbear = None
    if runner_dir is not None and (binary := dropbear_binary(runner_dir)).is_file():
        dropbear = [str(binary), "dropbearkey"]
    if dropbear is None and (found := shutil.which("dropbearkey")) is not None:
        dropbear = [found]
    return Tools(
        dropbearkey=dropbear,
        mount=shutil.which("mount") or "/bin/mount",
        umount=shutil.which("umount") or "/bin/umount",
        mkfs=shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4",
    )
