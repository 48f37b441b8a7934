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
from ..errors import ErrorCode, PlanError

__all__ = ["dotfile_hazard", "dotfiles", "perm_problem"]

STAGE = "dotfiles"


def dotfiles(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the dotfiles step of ``prepare_container`` (§12.5)."""
    draft = Draft(ctx, up, STAGE)
    places = _Places(ctx)
    for index, item in enumerate(ctx.internal.dotfiles or ()):
        field = f"kernel_config.internal_data.dotfiles[{index}]"
        target, hazard = places.resolve(item.path)
        if hazard is not None or target is None:
            draft.fail(
                "hazard", f"{field}.path", repr(item.path), hazard or "unresolvable"
            )
        refused = perm_problem(item.perm)
        if refused is not None:
            code, reason = refused
            draft.fail(code, f"{field}.perm", repr(item.perm), reason)
        if target is not None and hazard is None and refused is None:
            _dotfile(draft, item, target)
    return draft.result()


def _dotfile(draft: Draft, item: Dotfile, target: PurePosixPath) -> None:
    ctx = draft.ctx
    draft.makedirs(target.parent, new_dir_mode(ctx))
    data = item.data if item.data.endswith("\n") else f"{item.data}\n"
    draft.write(target, data.encode(), new_file_mode(ctx))
    # the target, then its parents below work/ (resolve put it there)
    below_work = len(target.parts) - len(work_dir(ctx).parts)
    walked = [target, *target.parents[: below_work - 1]]
    mode = int(item.perm, 8)
    chmod_dirs = "dotfile-dir-mode" not in draft.up.quirks
    for path in walked:
        if path == target or chmod_dirs:
            draft.chmod(path, mode)
    draft.own(walked)


class _Places:
    """The kernel's host paths a dotfile path resolves against, built once per
    stage run (a kernel may have thousands of dotfiles)."""

    def __init__(self, ctx: Context) -> None:
        self.root = len(host_path(ctx, PurePosixPath()).parts)
        self.scratch = host_path(ctx, scratch_dir(ctx))
        self.work = host_path(ctx, work_dir(ctx))
        self.inside = self.work.parts
        self.kernel_dirs = {self.scratch, host_path(ctx, config_dir(ctx)), self.work}

    def resolve(self, path: str) -> tuple[PurePosixPath | None, str | None]:
        """The scratch-relative target of a dotfile path, or the hazard that
        refuses it."""
        hazard = dotfile_hazard(path)
        if hazard is not None:
            return None, hazard
        if path.startswith("/home/"):
            host = self.scratch / "/".join(path.split("/")[2:])
        elif path.startswith("/"):
            host = PurePosixPath(path)
        else:
            host = self.work / path
        if host in self.kernel_dirs:
            return None, (
                f"H5: resolves to the kernel dir {host}; legacy raises "
                "IsADirectoryError"
            )
        parts, inside = host.parts, self.inside
        if len(parts) <= len(inside) or parts[: len(inside)] != inside:
            return None, (
                f"H1/H2: resolves to {host}, outside /home/work: legacy writes there "
                "and then chmods every ancestor up to / without end"
            )
        # below work/, so below the root: its parts after the root's
        return PurePosixPath(*parts[self.root :]), None


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


def perm_problem(perm: str) -> tuple[ErrorCode, str] | None:
    """Why legacy cannot use ``perm`` as a mode, or ``None`` when it can.

    Legacy reads the mode with ``int(perm, 8)``, so whatever that accepts is a mode
    with that value (``"0o644"``, ``" 644"``, ``"644\n"``, ``"+644"``, ``"6_44"``);
    text it refuses is a crash after the file was written; and the values that are
    no mode (negative, above 0o7777), which chmod silently truncates, are hazards
    (§16 H37).
    """
    try:
        mode = int(perm, 8)
    except ValueError:
        return "crash", (
            "not octal text: legacy's int(perm, 8) raises ValueError after the "
            "file was written"
        )
    if not 0 <= mode <= 0o7777:  # noqa: PLR2004
        return "hazard", (
            f"H37: {mode:#o} is no permission mode: legacy's chmod keeps its low "
            f"twelve bits ({mode & 0o7777:#o}) on the file and each directory up to "
            "work/"
        )
    return None
