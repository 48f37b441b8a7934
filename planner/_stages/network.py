"""apply_network: the network fragments of the container config (§7).

Runs on new kernels and on restarts. Only the ``bridge`` mode (and no mode at all,
as single-kernel sessions have) is planned; a network plugin mode (``overlay``,
``host``, a third-party plugin) needs the plugin, which kplan does not load yet.
Legacy tests the mode's truth, not its type: a false value (``""``, ``0``, an
empty list or object) is no mode, and any other value that is not text names no
plugin, on which legacy raises.
"""

from __future__ import annotations

from returns.result import Result

from effects import ContainerConfig, freeze_object, thaw

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
    mode = thaw(ctx.cluster.network_config.get("mode"))  # as legacy tests it
    name = ctx.cluster.network_config.get("network_name")
    if mode == "bridge":
        if "network_name" not in ctx.cluster.network_config:
            draft.fail(
                "crash",
                "cluster_info.network_config.network_name",
                "missing",
                "bridge mode needs a network name: legacy raises KeyError",
            )
        elif not isinstance(name, str):
            draft.fail(
                "crash",
                "cluster_info.network_config.network_name",
                repr(thaw(name)),
                "not text: legacy raises ContainerCreationFailedError (Docker "
                "refuses the create: NetworkMode and the endpoint name are text)",
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
    elif isinstance(mode, str) and mode:
        draft.fail(
            "unsupported",
            "cluster_info.network_config.mode",
            repr(mode),
            "network plugins are not planned yet (only 'bridge' or no mode)",
        )
    elif mode:
        # Plugins are named by text: the lookup of any other value fails.
        raised = "TypeError" if isinstance(mode, list | dict) else "RuntimeError"
        draft.fail(
            "crash",
            "cluster_info.network_config.mode",
            repr(mode),
            f"not text, so no network plugin's name: legacy raises {raised} "
            "(apply_network's lookup of the plugin)",
        )
    bridge = ctx.local.container.alternative_bridge
    if bridge is not None:
        _fragment(draft, {"HostConfig": {"NetworkMode": bridge}})
    if ctx.facts.host.infiniband:
        _fragment(draft, {"HostConfig": {"Devices": [INFINIBAND]}})
    return draft.result()


def _fragment(draft: Draft, fragment: dict[str, object]) -> None:
    draft.add(ContainerConfig(fragment=freeze_object(fragment)))
