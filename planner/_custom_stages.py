"""Stages from outside kplan: where each sits, what it reads, and its guard.

Theory of operation
-------------------
A stage plugin (architecture.md §9) is a ``StagePlugin``: a name, a stage function
with the built-in stages' signature (``(Context, Upstream) -> Result[Part,
tuple[PlanError, ...]]``), its position (``after=`` or ``before=`` a named stage,
a built-in one or another plugin's) and the threaded values it reads (``reads``:
``Threaded`` field names, docs in ``planner._threaded``). ``with_plugins`` places
every plugin in a stage list for ``compile_plan(..., stages=...)``, or returns every
problem, each naming the plugin: a bad or taken name, no position or two, a
position naming no stage, a read of an unknown field or of one no stage before it
sets.

A placed plugin runs behind a guard, so a broken one is a ``PlanError`` naming it
(code ``plugin``), never a traceback from inside the compiler: it raised, returned
something that is not a ``Result`` of a ``Part``, emitted a value that is not an
effect, or set threaded values it did not declare in ``writes``. It sees the model
tree, the contents, this run's effects, the quirks and the options as every stage
does, but of the threaded values only those it declared (the others at their
defaults), so a declaration that is too short shows at once rather than in some
other kernel. Its effects then go through the compiler like any stage's: projected
onto the model (a refused effect is reported with the plugin's stage), checked for
conflicting writes, ordered, given edges and compared.

Plugins are found by the shell (``kplan``: the ``kplan.stages`` entry points);
nothing here imports or loads anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final, final

import attrs
from returns.result import Failure, Result, Success

from effects import EFFECT_TYPES

from ._context import Context
from ._stage_api import Part, Upstream
from ._stages import STAGES, Stage, Stages
from ._threaded import THREADED_BY, Threaded
from .errors import PlanError

__all__ = ["StagePlugin", "Stages", "stage_names", "with_plugins"]

Errors = tuple[PlanError, ...]

NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
THREADED_FIELDS: Final = frozenset(f.name for f in attrs.fields(Threaded))
_STAGE = "plugins"  # the stage named in a placement error


def _names(value: Iterable[str]) -> frozenset[str]:
    """``reads``/``writes`` as given (a set, a list, a tuple), frozen."""
    return frozenset(value)


@final
@attrs.frozen(kw_only=True)
class StagePlugin:
    """A stage from a third-party package, and where it goes.

    ``name`` is the stage's name in the plan (``[a-z0-9][a-z0-9._-]*``, unique);
    ``origin`` says where it came from in errors (the entry point and its
    distribution); exactly one of ``after`` and ``before`` names the stage it sits
    next to; ``reads`` and ``writes`` are the ``Threaded`` fields it reads and sets.
    """

    name: str
    run: Stage
    after: str | None = None
    before: str | None = None
    reads: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    writes: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    origin: str = ""

    def label(self) -> str:
        """``plugin 'motd' (kplan-motd 1.0: kplan_motd:STAGE)`` for errors."""
        where = f" ({self.origin})" if self.origin else ""
        return f"stage plugin {self.name!r}{where}"


def stage_names(stages: Stages) -> tuple[str, ...]:
    """The names of ``stages``, in order."""
    return tuple(name for name, _ in stages)


def with_plugins(
    plugins: Iterable[StagePlugin], base: Stages = STAGES
) -> Result[Stages, Errors]:
    """``base`` with every plugin placed and guarded, or every problem found.

    Plugins are placed in name order, each once its anchor is placed (so one may
    sit after another), and several next to one anchor keep that order.
    """
    wanted = sorted(plugins, key=lambda p: p.name)
    errors = [error for plugin in wanted for error in _checked(plugin, base, wanted)]
    if errors:
        return Failure(tuple(errors))
    order = list(base)
    pending = list(wanted)
    while pending:
        names = stage_names(tuple(order))
        placed = [p for p in pending if (p.after or p.before) in names]
        if not placed:
            return Failure(tuple(_unplaced(p) for p in pending))
        for plugin in placed:
            _insert(order, plugin)
            pending.remove(plugin)
    final_order = tuple(order)
    errors = [
        error
        for plugin in wanted
        for error in _reads_in_place(plugin, final_order, wanted)
    ]
    return Failure(tuple(errors)) if errors else Success(final_order)


def _insert(order: list[tuple[str, Stage]], plugin: StagePlugin) -> None:
    names = [name for name, _ in order]
    if plugin.after is not None:
        index = names.index(plugin.after) + 1
        # after the anchor and after the plugins already placed after it
        while index < len(order) and getattr(order[index][1], "after", None) == (
            plugin.after
        ):
            index += 1
    else:
        assert plugin.before is not None  # noqa: S101  (_checked saw exactly one)
        index = names.index(plugin.before)
    order.insert(index, (plugin.name, _Guarded(plugin)))


def _error(plugin: StagePlugin, field: str, value: str, reason: str) -> PlanError:
    return PlanError(
        stage=_STAGE,
        code="plugin",
        field=field,
        value=value,
        reason=f"{plugin.label()}: {reason}",
    )


def _checked(
    plugin: StagePlugin, base: Stages, plugins: Sequence[StagePlugin]
) -> list[PlanError]:
    found: list[PlanError] = []
    builtin = set(stage_names(base))
    if not NAME.match(plugin.name):
        found.append(
            _error(plugin, "name", repr(plugin.name), "not [a-z0-9][a-z0-9._-]*")
        )
    elif plugin.name in builtin:
        found.append(_error(plugin, "name", plugin.name, "a built-in stage's name"))
    elif sum(1 for p in plugins if p.name == plugin.name) > 1:
        found.append(_error(plugin, "name", plugin.name, "two plugins have it"))
    if (plugin.after is None) == (plugin.before is None):
        reason = "give exactly one of after= and before= (the stage it sits next to)"
        found.append(_error(plugin, "position", "", reason))
    elif (plugin.after or plugin.before) == plugin.name:
        found.append(_error(plugin, "position", plugin.name, "names itself"))
    run: object = plugin.run  # typed as a Stage, but a plugin's object is anything
    if not callable(run):
        found.append(_error(plugin, "run", _short(run), "not callable"))
    for kind, fields in (("reads", plugin.reads), ("writes", plugin.writes)):
        unknown = sorted(f for f in fields if f not in THREADED_FIELDS)
        if unknown:
            known = ", ".join(sorted(THREADED_FIELDS))
            found.append(
                _error(
                    plugin, kind, ",".join(unknown), f"not threaded (one of {known})"
                )
            )
    return found


def _unplaced(plugin: StagePlugin) -> PlanError:
    anchor = plugin.after or plugin.before or ""
    side = "after" if plugin.after is not None else "before"
    return _error(plugin, side, anchor, "no such stage (built-in or plugin)")


def _reads_in_place(
    plugin: StagePlugin, order: Stages, plugins: Sequence[StagePlugin]
) -> list[PlanError]:
    """A read of a field that no stage before the plugin sets is refused."""
    names = stage_names(order)
    before = set(names[: names.index(plugin.name)])
    setters = {field: set(stages) for field, stages in THREADED_BY.items()}
    for other in plugins:
        for field in other.writes:
            setters.setdefault(field, set()).add(other.name)
    return [
        _error(
            plugin,
            "reads",
            field,
            f"no stage before it sets it (set by {', '.join(sorted(setters[field]))})",
        )
        for field in sorted(plugin.reads)
        if not setters.get(field, set()) & before
    ]


@final
class _Guarded:
    """A plugin's stage behind its guard (module docstring)."""

    def __init__(self, plugin: StagePlugin) -> None:
        self.plugin = plugin
        self.after = plugin.after  # _insert keeps plugins after one anchor in order

    def __call__(self, ctx: Context, up: Upstream) -> Result[Part, Errors]:
        plugin = self.plugin
        visible = Threaded(**{f: getattr(up.threaded, f) for f in plugin.reads})
        try:
            result = plugin.run(ctx, attrs.evolve(up, threaded=visible))
        except Exception as exc:  # noqa: BLE001  (a plugin's bug is reported, named)
            return self._broken("raised", f"{type(exc).__name__}: {exc}")
        match result:
            case Success(Part() as part):
                return self._part(part, up.threaded, visible)
            case Failure(tuple() as errors) if errors and all(
                isinstance(e, PlanError) for e in errors
            ):
                return Failure(errors)
            case _:
                return self._broken(
                    "returned",
                    f"{_short(result)}, not a Result[Part, tuple[PlanError, ...]]",
                )

    def _part(
        self, part: Part, threaded: Threaded, visible: Threaded
    ) -> Result[Part, Errors]:
        strangers = [e for e in part.effects if not isinstance(e, EFFECT_TYPES)]
        if strangers:
            return self._broken("emitted", f"{_short(strangers[0])}, not an effect")
        if part.threaded is None:
            return Success(part)
        changed = {
            f.name
            for f in attrs.fields(Threaded)
            if getattr(part.threaded, f.name) != getattr(visible, f.name)
        }
        undeclared = sorted(changed - self.plugin.writes)
        if undeclared:
            reason = f"set {', '.join(undeclared)}, not in its writes"
            return self._broken("threaded", reason)
        merged = attrs.evolve(
            threaded, **{f: getattr(part.threaded, f) for f in changed}
        )
        return Success(attrs.evolve(part, threaded=merged))

    def _broken(self, what: str, detail: str) -> Result[Part, Errors]:
        plugin = self.plugin
        return Failure(
            (
                PlanError(
                    stage=plugin.name,
                    code="plugin",
                    field=f"plugins.{plugin.name}",
                    value=what,
                    reason=f"{plugin.label()} is broken: it {what} {detail}",
                ),
            )
        )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."  # noqa: PLR2004
