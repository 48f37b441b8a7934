"""Matching a base distro to what is available for it (``match_distro_data``, §9.2).

Keys are a distro prefix and a dotted version (``ubuntu22.04``). A static build
for the distro's libc (``static-gnu``, or ``static-musl`` for alpine) wins when
present; otherwise the entries of the same prefix are tried newest first and the
first not newer than the distro is taken, else the oldest of them; a distro
without a version takes the newest. No entry of the prefix raises
``UnsupportedBaseDistroError`` in legacy, ``DistroError`` here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

__all__ = ["DistroError", "artifact_distro", "match_distro"]

T = TypeVar("T")
_VERSION = re.compile(r"(\d+(\.\d+)*)$")
_ARTIFACT = re.compile(r"\.([a-z-]+\d+\.\d+)\.")


class DistroError(ValueError):
    """No candidate fits the distro (legacy's ``UnsupportedBaseDistroError``)."""


def _version(key: str) -> tuple[int, ...]:
    match = _VERSION.search(key)
    return tuple(map(int, match.group(1).split("."))) if match else (0,)


def match_distro(data: Mapping[str, T], distro: str) -> tuple[str, T]:
    """The ``(key, value)`` of ``data`` legacy picks for ``distro``."""
    match = _VERSION.search(distro)
    prefix = distro if match is None else distro[: -len(match.group(1))]
    wanted = None if match is None else _version(distro)
    static = "static-musl" if prefix == "alpine" else "static-gnu"
    if value := data.get(static):
        return static, value
    candidates = sorted(
        ((key, value) for key, value in data.items() if key.startswith(prefix)),
        key=lambda item: _version(item[0]),
        reverse=True,
    )
    if not candidates:
        raise DistroError(distro)
    if wanted is None:
        return candidates[0]
    for key, value in candidates:
        if wanted >= _version(key):
            return key, value
    return candidates[-1]


def artifact_distro(name: str) -> str | None:
    """The distro tag in a runner artefact's name (as in ``jail.<distro>.<arch>``)."""
    match = _ARTIFACT.search(name)
    return None if match is None else match.group(1)
