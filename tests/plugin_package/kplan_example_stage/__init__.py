"""An example stage plugin: ``config/motd.txt``, the kernel's message of the day.

It sits after ``config-files`` and reads the environ the ``environ`` stage threads
(its ``reads``), so the file names the kernel's image and how many variables its
environ holds. It is written like a built-in stage: a ``Draft`` adds the effects,
which then go through the compiler's checks like any stage's.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from returns.result import Result

from planner import Context, Draft, Part, PlanError, StagePlugin, Upstream

MOTD_NAME = "motd.txt"


def motd(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Write ``<kernel>/config/motd.txt`` (readable by all, owned by the agent)."""
    draft = Draft(ctx, up, "motd")
    path = PurePosixPath(ctx.kernel_id) / "config" / MOTD_NAME
    if draft.kind(path.parent) != "dir":
        draft.fail("unsupported", "plugins.motd", str(path.parent), "no config dir")
        return draft.result()
    text = (
        f"Welcome to kernel {ctx.kernel_id} ({ctx.image_ref.canonical}),\n"
        f"whose environ holds {len(up.threaded.environ)} variables.\n"
    )
    draft.write(path, text.encode(), 0o644)
    return draft.result()


STAGE = StagePlugin(name="motd", run=motd, after="config-files", reads={"environ"})
