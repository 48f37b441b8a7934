"""The kernel object ``prepare_container`` returns, as data (§12.6).

Legacy builds a ``DockerKernel`` holding the network id, the image, the kernelspec
version, the network driver, the environ and the resource spec; the agent registers
it. kplan hands the same facts to the agent as a ``RegisterKernel`` effect.
Service ports are allocated when the container starts, so they are not part of it.
"""

from __future__ import annotations

from returns.result import Result

from effects import RegisterKernel, freeze_object

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["kernel"]

STAGE = "kernel"


def kernel(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the kernel object of ``prepare_container`` (§12.6)."""
    draft = Draft(ctx, up, STAGE)
    version = ctx.image.label("ai.backend.kernelspec", "1")
    if not version.strip().lstrip("+-").isdigit():
        draft.fail(
            "crash",
            "image.labels.ai.backend.kernelspec",
            repr(version),
            "not an integer: legacy's int() raises ValueError",
        )
        return draft.result()
    mode = ctx.cluster.network_mode
    record = {
        "kernel_id": ctx.kernel_id,
        "session_id": ctx.session_id,
        "agent_id": ctx.agent_id,
        "network_id": ctx.kernel_config.network_id,
        "image": ctx.image.canonical,
        "version": int(version),
        "network_driver": "bridge" if mode is None else mode,
        "environ": dict(ctx.environ),
        "mounts": [mount.legacy_str() for mount in up.mounts],
        "restarting": ctx.restarting,
    }
    draft.add(RegisterKernel(record=freeze_object(record)))
    return draft.result()
