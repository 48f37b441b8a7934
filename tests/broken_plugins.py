"""Stage plugins that are wrong in one way each, for the loader's and the guard's tests.

Entry points name these objects (``tests.broken_plugins:NAME``) as a third-party
package's would name its own.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from returns.result import Result, Success

from planner import Context, Draft, Part, PlanError, StagePlugin, Upstream

NOT_A_PLUGIN = {"name": "motd", "after": "config-files"}


def _fine(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    return Draft(ctx, up, "fine").result()


MISNAMED = StagePlugin(name="other-name", run=_fine, after="config-files")
MISPLACED = StagePlugin(name="misplaced", run=_fine, after="no-such-stage")
FINE = StagePlugin(name="fine", run=_fine, before="kernel")


def raising(ctx: Context, _up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """A plugin with a bug."""
    raise KeyError(ctx.kernel_id)


def returning_none(ctx: Context, up: Upstream) -> Any:
    """Forgets to return its draft's result."""
    Draft(ctx, up, "none")


def returning_text(_ctx: Context, _up: Upstream) -> Any:
    """A Success of something that is not a Part."""
    return Success("done")


def emitting_a_stranger(_ctx: Context, _up: Upstream) -> Any:
    """A Part whose effects hold something that is not an effect."""
    return Success(Part(effects=("mkdir config",)))  # type: ignore[arg-type]


def threading_environ(
    ctx: Context, up: Upstream
) -> Result[Part, tuple[PlanError, ...]]:
    """Adds ``FROM_PLUGIN=1`` to the environ the later stages see."""
    draft = Draft(ctx, up, "threads")
    draft.thread(environ=(*up.threaded.environ, ("FROM_PLUGIN", "1")))
    return draft.result()


def seeing(seen: list[Upstream]) -> Any:
    """A plugin that keeps what it was shown."""

    def run(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
        seen.append(up)
        return Draft(ctx, up, "seeing").result()

    return run


def writing(path: str, data: bytes) -> Any:
    """A plugin writing ``data`` at ``<kernel>/<path>``."""

    def run(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
        draft = Draft(ctx, up, "writing")
        draft.write(PurePosixPath(ctx.kernel_id) / path, data, 0o644)
        return draft.result()

    return run
