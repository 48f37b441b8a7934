"""``--metrics FILE`` of ``kplan apply`` and ``kplan rollback``: refused before
anything is done when it cannot be written, written after."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._exit import Exit

if TYPE_CHECKING:
    from ._metrics import KernelMetrics

__all__ = ["metrics_target", "write_metrics"]


def metrics_target(path: Path) -> Exit | None:
    """Refuse, before anything is done, a metrics file that cannot be written."""
    parent = path.parent
    if path.is_dir() or not parent.is_dir() or not os.access(parent, os.W_OK):
        why = "is a directory" if path.is_dir() else f"{parent} is not a writable dir"
        sys.stderr.write(f"kplan: --metrics {path}: {why}; nothing was done\n")
        return Exit.ERROR
    return None


def write_metrics(args: argparse.Namespace, metrics: KernelMetrics | None) -> bool:
    if metrics is None:
        return True
    try:
        metrics.write(args.metrics)
    except OSError as exc:
        sys.stderr.write(f"kplan: --metrics {args.metrics}: {exc.strerror}\n")
        return False
    return True
