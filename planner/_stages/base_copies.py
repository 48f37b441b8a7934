"""``environ_base.txt`` and ``resource_base.txt`` (§12 step 4).

On new kernels and restarts, ``shutil.copyfile`` copies the content (not the mode)
of environ.txt and resource.txt; on a restart the sources are the files the last
run left, so resource_base.txt carries their ``CID=`` lines. A missing source makes
legacy raise ``FileNotFoundError``.
"""

from __future__ import annotations

from returns.result import Result

from .._context import Context
from .._layout import below, config_dir, new_file_mode
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["base_copies"]

STAGE = "base-copies"


def base_copies(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the two ``_base`` copies of ``prepare_container`` (§12 step 4)."""
    draft = Draft(ctx, up, STAGE)
    for name in ("environ", "resource"):
        source = below(config_dir(ctx), f"{name}.txt")
        data = up.content(source)
        if data is None:
            draft.fail(
                "crash",
                f"facts.scratch.{source}",
                "missing",
                "no readable source file: legacy's copyfile raises FileNotFoundError",
            )
            continue
        draft.write(
            below(config_dir(ctx), f"{name}_base.txt"), data, new_file_mode(ctx)
        )
    return draft.result()
