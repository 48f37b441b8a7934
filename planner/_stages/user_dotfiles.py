"""User dotfiles (§12.5), with the hazards of §16 refused.

On new kernels and restarts, for each ``internal_data.dotfiles`` item in order
(later items overwrite earlier ones): resolve the host path (``/home/<x>/...`` under
the scratch dir, other absolute paths verbatim, relative paths under ``work``),
create the parents, write the data plus a newline if it lacks one, then walk from
the file up to ``work`` chmod'ing every path to the item's mode, and OWN (§1.3) the
walked paths. The walk giving directories the file's mode is H3; the
``dotfile-dir-mode`` quirk chmods only the file.

Paths that would make legacy write outside ``work`` or never stop walking (H1, H2,
H4), or write over ``work`` itself (H5), are refused, as are invalid modes.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from returns.result import Result

from .._context import Context
from .._inputs import Dotfile
from .._layout import (
    config_dir,
    host_path,
    new_dir_mode,
    new_file_mode,
    scratch_dir,
    work_dir,
)
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["dotfile_hazard", "dotfiles", "perm_hazard"]

STAGE = "dotfiles"
_PERM = re.compile(r"[0-7]+")


def dotfiles(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the dotfiles step of ``prepare_container`` (§12.5)."""
    draft = Draft(ctx, up, STAGE)
    for index, item in enumerate(ctx.internal.dotfiles or ()):
        field = f"kernel_config.internal_data.dotfiles[{index}]"
        target, hazard = resolve(ctx, item.path)
        if hazard is not None or target is None:
            draft.fail(
                "hazard", f"{field}.path", repr(item.path), hazard or "unresolvable"
            )
        perm_problem = perm_hazard(item.perm)
        if perm_problem is not None:
            draft.fail("hazard", f"{field}.perm", repr(item.perm), perm_problem)
        if target is not None and hazard is None and perm_problem is None:
            _dotfile(draft, item, target)
    return draft.result()


def _dotfile(draft: Draft, item: Dotfile, target: PurePosixPath) -> None:
    ctx = draft.ctx
    draft.makedirs(target.parent, new_dir_mode(ctx))
    data = item.data if item.data.endswith("\n") else f"{item.data}\n"
    draft.write(target, data.encode(), new_file_mode(ctx))
    walked = [
        target,
        *target.parents[: len(target.relative_to(work_dir(ctx)).parts) - 1],
    ]
    mode = int(item.perm, 8)
    chmod_dirs = "dotfile-dir-mode" not in draft.up.quirks
    for path in walked:
        if path == target or chmod_dirs:
            draft.chmod(path, mode)
    draft.own(walked)


def resolve(ctx: Context, path: str) -> tuple[PurePosixPath | None, str | None]:
    """The scratch-relative target of a dotfile path, or the hazard that refuses it."""
    hazard = dotfile_hazard(path)
    if hazard is not None:
        return None, hazard
    root = host_path(ctx, PurePosixPath())
    if path.startswith("/home/"):
        host = host_path(ctx, scratch_dir(ctx)) / "/".join(path.split("/")[2:])
    elif path.startswith("/"):
        host = PurePosixPath(path)
    else:
        host = host_path(ctx, work_dir(ctx)) / path
    work = host_path(ctx, work_dir(ctx))
    kernel_dirs = {host_path(ctx, d) for d in (scratch_dir(ctx), config_dir(ctx))} | {
        work
    }
    if host in kernel_dirs:
        return None, (
            f"H5: resolves to the kernel dir {host}; legacy raises IsADirectoryError"
        )
    if work not in host.parents:
        return None, (
            f"H1/H2: resolves to {host}, outside /home/work: legacy writes there and "
            "then chmods every ancestor up to / without end"
        )
    return host.relative_to(root), None


def dotfile_hazard(path: str) -> str | None:
    """Hazards visible in the path text alone."""
    if not path:
        return (
            "H5: an empty path is the work dir itself; legacy raises IsADirectoryError"
        )
    if "\x00" in path:
        return "a NUL byte in a path makes legacy raise ValueError"
    if ".." in path.split("/"):
        return "H4: a '..' part makes legacy chmod and chown an alias of a parent dir"
    return None


def perm_hazard(perm: str) -> str | None:
    """Why ``perm`` is not a usable octal mode, or ``None``."""
    if _PERM.fullmatch(perm) is None:
        return "not an octal mode (digits 0-7 only): legacy's int(perm, 8) raises"
    if int(perm, 8) > 0o7777:  # noqa: PLR2004
        return "above 0o7777, so not a permission mode"
    return None
