"""prepare_scratch: scratch, config and work dirs and the runner dotfiles.

Reproduces §4 (new kernels only; restart skips it, §4.4, §15):
per scratch type the filesystem is created (§4.1), ``config`` and ``work`` are made
and chmod'ed 0755 (§4.2), the runner's dotfiles and jupyter assets are copied with
their source modes and OWN (§1.3) is applied to exactly the listed paths (§4.3).
The jupyter assets stay agent-owned (H10) unless the ``unowned-jupyter-assets``
quirk is on. Memory scratch reproduces H6: legacy mounts a tmpfs only on the tmp
dir, because the scratch dir does not exist yet when it tries to mount it there.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from returns.result import Result

from effects import JUPYTER_ASSETS, RUNNER_DOTFILES, MountScratch

from .._context import Context
from .._layout import (
    below,
    config_dir,
    image_file,
    new_dir_mode,
    scratch_dir,
    tmp_dir,
    work_dir,
)
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["scratch"]

STAGE = "scratch"
MEMORY_SCRATCH_BYTES = 64 * 2**20  # legacy hard-codes 64 MiB (H6)


def scratch(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``prepare_scratch()`` (§4)."""
    draft = Draft(ctx, up, STAGE)
    if not ctx.restarting:
        _filesystem(ctx, draft)
        for path in (config_dir(ctx), work_dir(ctx)):
            draft.makedirs(path, new_dir_mode(ctx))
            draft.chmod(path, 0o755)
        _runner_files(ctx, draft)
    return draft.result()


def _filesystem(ctx: Context, draft: Draft) -> None:
    kind = ctx.local.container.scratch_type
    linux = ctx.facts.host.platform.startswith("linux")
    if linux and kind == "memory":
        draft.mkdir(tmp_dir(ctx), new_dir_mode(ctx))
        draft.add(
            MountScratch(kind="tmpfs", path=tmp_dir(ctx), size=MEMORY_SCRATCH_BYTES)
        )
    elif linux and kind == "hostfile" and ctx.scratch_size == 0:
        draft.fail(
            "hazard",
            "local_config.container.scratch_size",
            "0",
            "H7: hostfile scratch needs a size; mkfs fails and legacy leaks the "
            "image and the scratch dir",
        )
    elif linux and kind == "hostfile":
        draft.makedirs(scratch_dir(ctx), new_dir_mode(ctx))
        mode = 0o644 & ~ctx.facts.umask_bits  # Path.touch(0o644) meets the umask
        size = ctx.scratch_size
        draft.add(
            MountScratch(
                kind="loopfile",
                path=scratch_dir(ctx),
                size=size,
                image=image_file(ctx),
                image_mode=mode,
            )
        )
    else:
        draft.mkdir(scratch_dir(ctx), new_dir_mode(ctx))


def _runner_files(ctx: Context, draft: Draft) -> None:
    work = work_dir(ctx)
    jupyter = below(work, ".jupyter")
    custom = below(jupyter, "custom")
    draft.makedirs(custom, new_dir_mode(ctx))
    for source, target in JUPYTER_ASSETS:
        _copy(ctx, draft, source, below(work, target))
    dotfiles = [below(work, name) for name in RUNNER_DOTFILES]
    for name, path in zip(RUNNER_DOTFILES, dotfiles, strict=True):
        _copy(ctx, draft, name, path)
    owned = [work, jupyter, custom, *dotfiles]
    if "unowned-jupyter-assets" in draft.up.quirks:
        owned += [below(work, target) for _, target in JUPYTER_ASSETS]
    draft.own(owned)


def _copy(ctx: Context, draft: Draft, source: str, target: PurePosixPath) -> None:
    asset = ctx.facts.runner.get(source)
    if asset is None:
        draft.fail(
            "crash",
            f"facts.runner.files.{source}",
            "missing",
            f"the runner package has no {source}: legacy's shutil.copy raises "
            "FileNotFoundError",
        )
        return
    draft.copy(target, asset.content, asset.mode_bits)
