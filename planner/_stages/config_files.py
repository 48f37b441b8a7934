"""``config/environ.txt`` and ``config/resource.txt`` (§12.1, §12.2).

New kernels only; a restart keeps the previous files (§15). environ.txt is one
``KEY=VALUE`` line per environ item in order, then one line per accelerator
``Env`` string. resource.txt is ``KernelResourceSpec.write_to_string`` followed by
each device plugin's ``generate_resource_data`` lines; both use the umask mode and
are never chowned.
"""

from __future__ import annotations

from returns.result import Result

from effects import thaw_object

from .._context import Context
from .._layout import below, config_dir, new_file_mode
from .._plugins import known_slot_types, resource_data
from .._resource_txt import resource_txt
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["config_files", "environ_txt"]

STAGE = "config-files"


def config_files(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the environ.txt and resource.txt writes of ``prepare_container`` (§12)."""
    draft = Draft(ctx, up, STAGE)
    if not ctx.restarting:
        mode = new_file_mode(ctx)
        draft.write(below(config_dir(ctx), "environ.txt"), environ_txt(up), mode)
        spec = up.threaded.resource_spec
        lines = [
            line
            for device, _ in spec.allocations
            for line in resource_data(ctx, device)
        ]
        # Its sizes print: allocations are at most 2**64 (planner._document).
        text = resource_txt(spec, up.mounts, lines, known_slot_types(ctx))
        if text is None:
            draft.fail(
                "crash",
                "resource_spec.allocations",
                "slot names",
                "a slot is not prefixed by its device name: legacy raises ValueError",
            )
        else:
            draft.write(below(config_dir(ctx), "resource.txt"), text, mode)
    return draft.result()


def environ_txt(up: Upstream) -> bytes:
    """environ.txt bytes (§12.1): the environ, then the devices' ``Env`` items."""
    lines = [f"{key}={value}\n" for key, value in up.threaded.environ]
    env = thaw_object(up.threaded.docker_args).get("Env")
    lines += [f"{item}\n" for item in (env if isinstance(env, list) else ())]
    return "".join(lines).encode()
