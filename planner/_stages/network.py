"""apply_network: the network fragments of the container config (§7).

Runs on new kernels and on restarts. Only the ``bridge`` mode (and no mode at all,
as single-kernel sessions have) is planned; a network plugin mode (``overlay``,
``host``, a third-party plugin) needs the plugin, which kplan does not load yet.
"""

from __future__ import annotations

from returns.result import Result

from effects import ContainerConfig, freeze_object

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["network"]

STAGE = "network"
INFINIBAND = {
    "PathOnHost": "/dev/infiniband",
    "PathInContainer": "/dev/infiniband",
    "CgroupPermissions": "rwm",
}


def network(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``apply_network(cluster_info)`` (§7)."""
    draft = Draft(ctx, up, STAGE)
    mode = ctx.cluster.network_mode
    name = ctx.cluster.network_config.get("network_name")
    if mode == "bridge":
        if not isinstance(name, str):
            draft.fail(
                "crash",
                "cluster_info.network_config.network_name",
                "missing",
                "bridge mode needs a network name: legacy raises KeyError",
            )
        else:
            _fragment(
                draft,
                {
                    "HostConfig": {"NetworkMode": name},
                    "NetworkingConfig": {
                        "EndpointsConfig": {
                            name: {"Aliases": [ctx.kernel_config.cluster_hostname]}
                        },
                    },
                },
            )
    elif mode:
        draft.fail(
            "unsupported",
            "cluster_info.network_config.mode",
            repr(mode),
            "network plugins are not planned yet (only 'bridge' or no mode)",
        )
    bridge = ctx.local.container.alternative_bridge
    if bridge is not None:
        _fragment(draft, {"HostConfig": {"NetworkMode": bridge}})
    if ctx.facts.host.infiniband:
        _fragment(draft, {"HostConfig": {"Devices": [INFINIBAND]}})
    return draft.result()


def _fragment(draft: Draft, fragment: dict[str, object]) -> None:
    draft.add(ContainerConfig(fragment=freeze_object(fragment)))
