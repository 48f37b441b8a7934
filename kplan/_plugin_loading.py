"""Finding the installed stage plugins: the ``kplan.stages`` entry points.

The shell's half of architecture.md §9 (the planner places and guards them; loading
is IO, so it happens here). A third-party package declares, in its own
``pyproject.toml``::

    [project.entry-points."kplan.stages"]
    motd = "kplan_motd:STAGE"

where ``kplan_motd.STAGE`` is a ``planner.StagePlugin`` whose name is the entry
point's. Backend.AI's agent finds its own plugins the same way
(``importlib.metadata`` entry-point groups). The installed plugins are found again
whenever what is installed may have changed (an agent may install one while
running; tests install and remove one), and loaded in entry-point name order, so
the same packages always give the same plan.

A plugin that cannot be used is a ``PlanError`` (code ``plugin``) naming the entry
point and its distribution: it does not import, it is not a ``StagePlugin``, its
name is not the entry point's; then whatever ``planner.with_plugins`` finds (its
position, its declared reads).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import final

import attrs
from returns.result import Failure, Result, Success

from planner import STAGES, PlanError, StagePlugin, Stages, with_plugins

from ._installed import Metadata, MetadataWatch, all_settled

__all__ = ["GROUP", "load_stage_plugins", "plugin_stages"]

GROUP = "kplan.stages"

Errors = tuple[PlanError, ...]


def _origin(point: EntryPoint) -> str:
    dist = point.dist
    where = f"{dist.name} {dist.version}: " if dist is not None else ""
    return f"{where}{point.value}"


def _refused(point: EntryPoint, reason: str) -> PlanError:
    return PlanError(
        stage="plugins",
        code="plugin",
        field=f"entry-points.{GROUP}.{point.name}",
        value=_origin(point),
        reason=reason,
    )


def load_stage_plugins(
    points: Iterable[EntryPoint] | None = None,
) -> Result[tuple[StagePlugin, ...], Errors]:
    """The ``StagePlugin`` of every entry point (the installed ones by default)."""
    found = entry_points(group=GROUP) if points is None else points
    plugins: list[StagePlugin] = []
    errors: list[PlanError] = []
    for point in sorted(found, key=lambda p: p.name):
        try:
            loaded = point.load()
        except Exception as exc:  # noqa: BLE001  (any import failure is the plugin's)
            reason = f"cannot be loaded: {type(exc).__name__}: {exc}"
            errors.append(_refused(point, reason))
            continue
        if not isinstance(loaded, StagePlugin):
            kind = type(loaded).__name__
            reason = f"is a {kind}, not a planner.StagePlugin"
            errors.append(_refused(point, reason))
            continue
        if loaded.name != point.name:
            reason = f"its stage is named {loaded.name!r}: name it as its entry point"
            errors.append(_refused(point, reason))
            continue
        plugins.append(attrs.evolve(loaded, origin=_origin(point)))
    return Failure(tuple(errors)) if errors else Success(tuple(plugins))


def plugin_stages(points: Iterable[EntryPoint] | None = None) -> Result[Stages, Errors]:
    """The built-in stages with every installed plugin placed among them.

    The installed ones (``points`` ``None``) are read again only when the import
    path's distribution metadata may have changed (``kplan._installed``): reading
    every distribution's metadata took a quarter of a ``plan_kernel`` call, and an
    agent plans thousands of kernels. Metadata not yet settled when it was read
    (``executor.settled``) is read again at each call, as a change in the same
    clock tick would not show.
    """
    global _FOUND  # noqa: PLW0603  (one value, replaced whole: safe across threads)
    if points is not None:
        return _placed(points)
    metadata = _WATCH.metadata()
    found = _FOUND
    if found is not None and found.settled and found.metadata == metadata:
        return found.stages
    read_at = time.time_ns()
    stages = _placed(None)
    _FOUND = _Found(
        metadata=metadata, settled=all_settled(metadata, read_at), stages=stages
    )
    return stages


@final
@attrs.frozen
class _Found:
    """The installed plugins' stages and the metadata they were read from."""

    metadata: Metadata
    settled: bool  # every metadata entry's time settled at the reading
    stages: Result[Stages, Errors]


_WATCH = MetadataWatch()
_FOUND: _Found | None = None


def _placed(points: Iterable[EntryPoint] | None) -> Result[Stages, Errors]:
    match load_stage_plugins(points):
        case Success(plugins) if not plugins:
            return Success(STAGES)
        case Success(plugins):
            return with_plugins(plugins)
        case Failure(errors):
            return Failure(errors)
        case _:
            raise AssertionError("unreachable")  # returns#1361
