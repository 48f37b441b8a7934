"""Where a kernel's files live, and the modes new ones get (legacy-behaviour.md §1.1).

Paths come in two forms: relative to the scratch root, for effects, and absolute
host paths, for what legacy writes into files and container configs (mount
sources, resource.txt); legacy resolves the scratch root first.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath

from effects import kernel_entries

from ._context import Context

__all__ = [
    "KERNEL_PATHS",
    "below",
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
    return _kernel_dirs(ctx.kernel_id)[0]


def tmp_dir(ctx: Context) -> PurePosixPath:
    """``scratch_root/<kernel_id>_tmp`` (memory scratch only)."""
    return _kernel_dirs(ctx.kernel_id)[1]


def image_file(ctx: Context) -> PurePosixPath:
    """``scratch_root/<kernel_id>.img`` (hostfile scratch only, §4.1)."""
    return _kernel_dirs(ctx.kernel_id)[2]


def config_dir(ctx: Context) -> PurePosixPath:
    """``scratch_dir/config``, mounted at ``/home/config``."""
    return _kernel_dirs(ctx.kernel_id)[3]


def work_dir(ctx: Context) -> PurePosixPath:
    """``scratch_dir/work``, mounted at ``/home/work``."""
    return _kernel_dirs(ctx.kernel_id)[4]


# Stages ask for these dozens of times per compile and a path costs a microsecond
# to build: build each once per kernel (the values are immutable).
@lru_cache(maxsize=256)
def _kernel_dirs(kernel_id: str) -> tuple[PurePosixPath, ...]:
    scratch, tmp, image = (PurePosixPath(name) for name in kernel_entries(kernel_id))
    return (scratch, tmp, image, scratch / "config", scratch / "work")


# The caches of a kernel's paths hold a few kernels' worth: they serve a kernel
# planned again (a restart, a diff) and let what they hold die young. Thousands
# of entries kept tens of kernels' paths alive into the collector's oldest
# generation, whose passes then cost each new kernel's compile more than the
# hits saved (``make bench``: the collector column of the compile table).
KERNEL_PATHS = 256


@lru_cache(maxsize=KERNEL_PATHS)
def below(base: PurePosixPath, name: str) -> PurePosixPath:
    """``base / name``, built once: stages join the same names to a kernel's dirs
    on every compile, and the model then finds the very same path objects."""
    return base / name


def host_path(ctx: Context, relative: PurePosixPath) -> PurePosixPath:
    """The absolute host path legacy uses (it resolves the scratch root first)."""
    root = ctx.facts.scratch_root_resolved or ctx.local.container.scratch_root
    return _host_path(root, relative)


@lru_cache(maxsize=KERNEL_PATHS)
def _host_path(root: str, relative: PurePosixPath) -> PurePosixPath:
    return PurePosixPath(root) / relative


def new_file_mode(ctx: Context) -> int:
    """The mode ``open()`` gives a new file under the agent's umask."""
    return 0o666 & ~ctx.facts.umask_bits


def new_dir_mode(ctx: Context) -> int:
    """The mode ``mkdir()`` gives a new directory under the agent's umask."""
    return 0o777 & ~ctx.facts.umask_bits
