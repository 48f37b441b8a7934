"""The ownership rule legacy repeats in five places (legacy-behaviour.md §1.3).

scratch, ssh, bootstrap, container-ssh and dotfiles all chown their paths the same
way: to the overriding uid/gid, else to the kernel uid/gid when the image has the
``uid-match`` feature, else not at all; only a root agent chowns.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from effects import Chown

from ._context import Context

__all__ = ["own", "owner"]


def owner(ctx: Context) -> tuple[int | None, int | None] | None:
    """The §1.3 ownership rule: (uid, gid) to chown to, ``None`` sides kept.

    Returns ``None`` when legacy does not chown at all (not root, or no override
    and no ``uid-match``).
    """
    if not ctx.facts.is_root:
        return None
    uid, gid = ctx.kernel_config.uid, ctx.kernel_config.main_gid
    kernel = (ctx.kernel_uid, ctx.kernel_gid)
    if uid is None and gid is None:
        return kernel if ctx.uid_match else None
    if ctx.uid_match:
        return (kernel[0] if uid is None else uid, kernel[1] if gid is None else gid)
    return (uid, gid)


def own(ctx: Context, paths: Iterable[PurePosixPath]) -> list[Chown]:
    """OWN(paths) (§1.3) as effects, in the order legacy chowns."""
    target = owner(ctx)
    if target is None:
        return []
    return [Chown(path=path, uid=target[0], gid=target[1]) for path in paths]
