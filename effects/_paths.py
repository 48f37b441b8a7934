"""Paths inside a plan's scratch root.

Every filesystem effect names its target relative to the plan's scratch root, so a
plan cannot even express a path outside its sandbox (architecture.md §2). The rules are
structural and checked when a value is built: not absolute, not empty, no ``..``,
no NUL byte. ``PurePosixPath`` already drops empty and ``.`` parts; ``rel`` refuses
text that would need that normalisation, so the canonical encoding round-trips.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath

__all__ = [
    "check_absolute",
    "check_relative",
    "inside_scratch",
    "kernel_entries",
    "rel",
]


def check_relative(path: object) -> PurePosixPath:
    """Return ``path`` if it is a valid scratch-relative path, else raise.

    Raises:
        TypeError: ``path`` is not a ``PurePosixPath``.
        ValueError: it is absolute, empty, has a ``..`` part or a NUL byte.
    """
    if not isinstance(path, PurePosixPath):
        msg = f"expected PurePosixPath, got {type(path).__name__}"
        raise TypeError(msg)
    # The common case on the text alone: a new path's first ``parts`` costs more
    # than the checks (a compile builds a hundred paths). ``PurePosixPath`` has
    # dropped empty and "." parts, so the text's parts are the path's; "." is the
    # empty path's text.
    text = str(path)
    if (
        text[0] != "/"
        and text != "."
        and "/../" not in f"/{text}/"
        and "\x00" not in text
    ):
        return path
    if path.is_absolute():
        msg = f"path {text!r} must be relative to the scratch root"
        raise ValueError(msg)
    if not path.parts:
        msg = "path must not be empty"
        raise ValueError(msg)
    if ".." in path.parts:
        msg = f"path {text!r} must not contain '..'"
        raise ValueError(msg)
    if "\x00" in text:
        msg = f"path {text!r} must not contain a NUL byte"
        raise ValueError(msg)
    return path


def check_absolute(path: object) -> PurePosixPath:
    """Return ``path`` if it is an absolute, ``..``-free, NUL-free path, else raise."""
    if not isinstance(path, PurePosixPath):
        msg = f"expected PurePosixPath, got {type(path).__name__}"
        raise TypeError(msg)
    text = str(path)
    if not path.is_absolute():
        msg = f"path {text!r} must be absolute"
        raise ValueError(msg)
    if ".." in path.parts or "\x00" in text:
        msg = f"path {text!r} must not contain '..' or a NUL byte"
        raise ValueError(msg)
    return path


@lru_cache(maxsize=4096)  # a journal or plan names each path several times
def rel(text: str) -> PurePosixPath:
    """Parse canonical relative path text (``"a/b"``; never ``"a//b"``, ``"./a"``).

    Raises:
        ValueError: the text is not the canonical form of a valid relative path.
    """
    path = check_relative(PurePosixPath(text))
    if str(path) != text:
        msg = f"path {text!r} has empty or '.' parts (canonical form: {str(path)!r})"
        raise ValueError(msg)
    return path


def inside_scratch(_instance: object, _attribute: object, value: PurePosixPath) -> None:
    """attrs validator: ``value`` is a valid scratch-relative path."""
    check_relative(value)


def kernel_entries(kernel_id: str) -> tuple[str, str, str]:
    """The names one kernel owns directly below the scratch root (§1.1).

    Its scratch directory ``<kernel_id>``, the memory scratch's ``<kernel_id>_tmp``
    and the hostfile scratch's image ``<kernel_id>.img``; every other entry there
    belongs to other kernels.
    """
    return (kernel_id, f"{kernel_id}_tmp", f"{kernel_id}.img")
