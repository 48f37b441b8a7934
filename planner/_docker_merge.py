"""Container-config fragments and legacy's merge of them (§11, §14.4).

Legacy collects fragments in ``ctx.container_configs``: the network fragments of
``apply_network`` (§7) and then exactly one ``{"HostConfig": {"Mounts": [...]}}``
from ``process_mounts`` (§11), present even when the list is empty. A plan holds
the first as ``ContainerConfig`` effects and the second as ``ContainerMount``
effects; ``fragments_of`` rebuilds legacy's list from one run's effects.

``merge`` is ``update_nested_dict``: a missing key takes the new value, a mapping
recurses, a list is extended, anything else is replaced. Unlike legacy it never
aliases the inputs (H23): it returns a new document.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import cast

from effects import ContainerConfig, ContainerMount, Effect, thaw_object

from .errors import MergeError

__all__ = [
    "fragments_of",
    "merge",
    "merge_into",
    "mount_entry",
]


def mount_entry(mount: ContainerMount) -> dict[str, object]:
    """The ``HostConfig.Mounts`` entry for ``mount``, keyed as legacy keys it."""
    return {
        "Target": mount.target,
        "Source": mount.source,
        "Type": mount.type,
        "ReadOnly": mount.read_only,
        f"{mount.type.capitalize()}Options": thaw_object(mount.options),
    }


def fragments_of(effects: Iterable[Effect]) -> list[dict[str, object]]:
    """The config fragments of one run's effects: network ones, then the Mounts one."""
    items = list(effects)
    fragments = [
        thaw_object(e.fragment) for e in items if isinstance(e, ContainerConfig)
    ]
    entries = [mount_entry(e) for e in items if isinstance(e, ContainerMount)]
    return [*fragments, {"HostConfig": {"Mounts": entries}}]


def merge(
    base: Mapping[str, object], fragments: Iterable[Mapping[str, object]]
) -> dict[str, object]:
    """Fold ``fragments`` into a copy of ``base`` with ``update_nested_dict`` rules."""
    result = cast("dict[str, object]", _copy(dict(base)))
    merge_into(result, fragments)
    return result


def merge_into(
    dest: dict[str, object],
    fragments: Iterable[Mapping[str, object]],
    *,
    owned: bool = False,
) -> None:
    """``merge`` into ``dest`` itself (a document of the caller's own, not copied);
    what is taken from ``fragments`` is copied, so they are never aliased (H23),
    unless they are ``owned``: the caller's own fresh documents, used once."""
    take = _as_is if owned else _copy
    for fragment in fragments:
        _update(dest, fragment, "", take)


def _update(
    dest: dict[str, object],
    add: Mapping[str, object],
    where: str,
    take: Callable[[object], object],
) -> None:
    for key, value in add.items():
        path = f"{where}.{key}" if where else key
        current = dest.get(key)
        if key not in dest:
            dest[key] = take(value)
        elif isinstance(current, dict):
            if not isinstance(value, Mapping):
                msg = f"{path}: a mapping cannot be merged with {type(value).__name__}"
                raise MergeError(msg)
            _update(current, value, path, take)
        elif isinstance(current, list):
            if not isinstance(value, list):
                msg = f"{path}: a list cannot be extended with {type(value).__name__}"
                raise MergeError(msg)
            current.extend(take(item) for item in value)
        else:
            dest[key] = take(value)


def _as_is(value: object) -> object:
    return value


_ATOM_BASES = (str, int, float, bool, type(None))
_ATOMS = frozenset(_ATOM_BASES)


def _copy(value: object) -> object:
    """A deep copy of a JSON value; ``copy.deepcopy`` (10x slower) for anything else.

    Documents are JSON (dicts with string keys, lists, scalars), so the fast path
    is the common one; a tuple or another container falls back to ``deepcopy``.
    """
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {
            key: item if type(item) in _ATOMS else _copy(item)
            for key, item in value.items()  # type: ignore[attr-defined]
        }
    if kind is list:
        return [item if type(item) in _ATOMS else _copy(item) for item in value]  # type: ignore[attr-defined]
    if isinstance(value, _ATOM_BASES):  # a subclass of a scalar (a str enum, ...)
        return value
    return copy.deepcopy(value)
