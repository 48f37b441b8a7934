"""``kplan snapshot``: a real directory's tree, as kplan models it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from effects import encode_tree, without_volatile_content
from executor import snapshot as snapshot_of

from ._exit import Exit
from ._render import render_tree

__all__ = ["snapshot"]


def snapshot(args: argparse.Namespace) -> int:
    """``kplan snapshot DIRECTORY [--format json]``: a real directory's tree."""
    directory: Path = args.directory
    if not directory.is_dir():
        sys.stderr.write(f"kplan: {directory} is not a directory\n")
        return Exit.ERROR
    try:
        tree = without_volatile_content(snapshot_of(directory)[0])
    except OSError as exc:  # an unreadable entry: name it, as one line
        sys.stderr.write(f"kplan: {exc.filename or directory}: {exc.strerror}\n")
        return Exit.ERROR
    if args.format == "json":
        sys.stdout.buffer.write(encode_tree(tree))
    else:
        sys.stdout.write(render_tree(tree))
    return Exit.OK
