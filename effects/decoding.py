"""Helpers for code that reads and writes kplan's JSON formats (not the vocabulary).

The journal, the context parser and the tree format all read JSON the same strict
way: a ``Reader`` names the JSON path of every problem by raising ``Invalid``, which
the public decoders turn into error values. Modes are written ``"0o755"``
(``mode_text``/``parse_mode``) and scratch paths are relative, normalised, never
``..`` (``rel``, ``check_relative``; ``check_absolute`` for host paths).
"""

from __future__ import annotations

from ._encoding import mode_text, quick_effect
from ._paths import check_absolute, check_relative, rel
from ._reader import Invalid, Reader, parse_mode

__all__ = [
    "Invalid",
    "Reader",
    "check_absolute",
    "check_relative",
    "mode_text",
    "parse_mode",
    "quick_effect",
    "rel",
]
