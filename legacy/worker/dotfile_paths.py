"""Where legacy writes a dotfile, as hazards: which paths leave (or are) the work dir.

Mirrors how ``prepare_container`` maps paths (§12.5): ``/home/...``
keeps everything after the 2nd ``/`` under ``scratch_dir``, other absolute paths are
host paths, relative paths are joined to ``work_dir``. ``/home//work/x`` would turn
into the absolute host path ``/work/x`` and is refused.
"""

from __future__ import annotations

WORK_PREFIX = "/home/work/"


def dotfile_path_hazard(path: str) -> str | None:
    """Why a dotfile path would leave (or be) the work dir, or None when it is safe."""
    if path == "":
        return "H5: empty path resolves to the work dir itself (IsADirectoryError)"
    if "\0" in path:
        return (
            "input: NUL byte in dotfile path "
            "(ValueError in legacy after earlier writes)"
        )
    if ".." in path.split("/"):
        return (
            "H4: '..' component aliases or escapes the work dir "
            "(chmod/chown of work_dir or scratch_dir)"
        )
    if path.startswith("/"):
        return _absolute_dotfile_hazard(path)
    if not _names(path):
        return "H5: relative path resolves to the work dir itself (IsADirectoryError)"
    return None


def _names(path: str) -> list[str]:
    """The components legacy's ``Path`` keeps (no empty or ``.`` parts)."""
    return [p for p in path.split("/") if p not in ("", ".")]


def _absolute_dotfile_hazard(path: str) -> str | None:
    """Absolute dotfile paths: accepted only when legacy maps them below work_dir."""
    if path.startswith(WORK_PREFIX):
        if _names(path[len(WORK_PREFIX) :]):
            return None
        return "H5: path resolves to the work dir itself (IsADirectoryError)"
    if path.startswith("/home/"):
        mapped = "/".join(path.split("/")[2:])  # what legacy joins to scratch_dir
        names = _names(mapped)
        if not mapped.startswith("/") and names in ([], ["work"]):
            return (
                "H5: path resolves to the scratch/work dir itself (IsADirectoryError)"
            )
        if not mapped.startswith("/") and names[:1] == ["work"]:
            return None  # e.g. /home/./work/x: legacy's Path drops the '.' parts
    return (
        "H1/H2: absolute path not below /home/work/ (written outside the work dir; "
        "the chmod walk never reaches work_dir)"
    )
