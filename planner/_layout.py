"""Where a kernel's files live, and the modes new ones get (legacy-behaviour.md §1.1).

Paths come in two forms: relative to the scratch root, for effects, and absolute
host paths, for what legacy writes into files and container configs (mount
sources, resource.txt); legacy resolves the scratch root first.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from effects import kernel_entries

from ._context import Context

__all__ = [
    "config_dir",
    "host_path",
    "image_file",
    "new_dir_mode",
    "new_file_mode",
    "scratch_dir",
    "tmp_dir",
    "work_dir",
]


def scratch_dir(ctx: Context) -> PurePosixPath:
    """``scratch_root/<kernel_id>``, relative to the scratch root."""
    return PurePosixPath(kernel_entries(ctx.kernel_id)[0])


def tmp_dir(ctx: Context) -> PurePosixPath:
    """``scratch_root/<kernel_id>_tmp`` (memory scratch only)."""
    return PurePosixPath(kernel_entries(ctx.kernel_id)[1])


def image_file(ctx: Context) -> PurePosixPath:
    """``scratch_root/<kernel_id>.img`` (hostfile scratch only, §4.1)."""
    return PurePosixPath(kernel_entries(ctx.kernel_id)[2])


def config_dir(ctx: Context) -> PurePosixPath:
    """``scratch_dir/config``, mounted at ``/home/config``."""
    return scratch_dir(ctx) / "config"


def work_dir(ctx: Context) -> PurePosixPath:
    """``scratch_dir/work``, mounted at ``/home/work``."""
    return scratch_dir(ctx) / "work"


def host_path(ctx: Context, relative: PurePosixPath) -> PurePosixPath:
    """The absolute host path legacy uses (it resolves the scratch root first)."""
    root = ctx.facts.scratch_root_path or ctx.scratch_root
    return root / relative


def new_file_mode(ctx: Context) -> int:
    """The mode ``open()`` gives a new file under the agent's umask."""
    return 0o666 & ~ctx.facts.umask_bits


def new_dir_mode(ctx: Context) -> int:
    """The mode ``mkdir()`` gives a new directory under the agent's umask."""
    return 0o777 & ~ctx.facts.umask_bits
