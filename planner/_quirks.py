"""Named, opt-in fixes of legacy defects (architecture.md §3.2 "Quirks").

By default a plan reproduces every safe legacy behaviour, odd modes and owners
included, so its diff against legacy is empty. Each entry here is a deliberate
fix a caller can turn on; ``kplan diff`` labels the differences it explains.
"""

from __future__ import annotations

from typing import Final

__all__ = ["QUIRKS", "unknown_quirks"]

QUIRKS: Final[dict[str, str]] = {
    "dotfile-dir-mode": (
        "H3: apply a dotfile's mode to the file only, not to the directories "
        "between it and /home/work"
    ),
    "secret-file-modes": (
        "H9: write docker-creds.json 0600 and own it like the kernel's other files"
    ),
    "unowned-jupyter-assets": (
        "H10: own the jupyter assets in .jupyter/custom like the other runner dotfiles"
    ),
}


def unknown_quirks(names: frozenset[str]) -> list[str]:
    """The names that are not quirks, sorted."""
    return sorted(names - QUIRKS.keys())
