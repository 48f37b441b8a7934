"""What a restart reads back: ``config/kconfig.dat`` and ``config/cluster.json`` (B14).

Before preparing the container, ``create_kernel`` replaces ``kernel_config
["environ"]`` with the final environ and stores the whole mapping, pickled, as
``kconfig.dat`` (on restarts too), and ``cluster_info`` as compact JSON in
``cluster.json`` (new kernels only). ``restart_kernel`` loads both (§15). Both get
the umask mode and the agent's ownership; they hold secrets (H9).
"""

from __future__ import annotations

from returns.result import Result

from .._context import Context
from .._kconfig import kernel_config_pickle
from .._layout import below, config_dir, new_file_mode
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["restart_config"]

STAGE = "restart-config"


def restart_config(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the two ``restart_kernel__store_config`` writes (B14)."""
    draft = Draft(ctx, up, STAGE)
    mode = new_file_mode(ctx)
    data = kernel_config_pickle(ctx.kernel_config_document, up.threaded.environ)
    draft.write(below(config_dir(ctx), "kconfig.dat"), data, mode)
    if not ctx.restarting:
        draft.write(below(config_dir(ctx), "cluster.json"), ctx.cluster_info_json, mode)
    return draft.result()
