"""Steps 4-5: the real ``DockerKernelCreationContext`` methods in create_kernel order.

New kernel (§2): ``get_intrinsic_mounts``, ``prepare_scratch``,
``apply_network``, ``prepare_ssh``, ``process_mounts``, ``prepare_container``.
Restart (§15): the full new-kernel run, then a second context with
``restarting=True``: ``prepare_resource_spec``, ``apply_network``, ``prepare_ssh``,
``process_mounts``, ``prepare_container``. ``LegacyRun.step``/``phase`` record where
legacy stopped, for the ``error`` object.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .legacy_inputs import Inputs, build_inputs, build_resource_spec
from .legacy_modules import Legacy
from .protocol import JSONObject, as_dict, error_json, to_jsonable
from .stubs import UnusedDependency


def kernel_json(kernel: Any) -> JSONObject:
    """The kernel object ``prepare_container`` returned, as the protocol reports it."""
    return {
        "kernel_id": str(kernel.kernel_id),
        "session_id": str(kernel.session_id),
        "agent_id": str(kernel.agent_id),
        "network_id": to_jsonable(kernel.network_id),
        "image": kernel.image.canonical,
        "version": int(kernel.version),
        "network_driver": to_jsonable(kernel.network_driver),
        "environ": to_jsonable(dict(kernel.environ)),
        "service_ports": to_jsonable(list(kernel.service_ports)),
    }


class LegacyRun:
    """Drives the legacy methods in create_kernel order; records where it stopped."""

    def __init__(
        self,
        legacy: Legacy,
        context: Mapping[str, Any],
        scratch_root: Path,
        spare: Path,
    ) -> None:
        self.legacy = legacy
        self.context = context
        self.scratch_root = scratch_root
        self.spare = spare
        self.step = "build_context"
        self.phase = "create"
        self.ctx: Any = None
        self.kernel: Any = None

    async def run(self) -> JSONObject:
        """Both phases (restart only when asked); a legacy failure is a result."""
        error: JSONObject | None = None
        try:
            inputs = build_inputs(
                self.legacy, self.context, self.scratch_root, self.spare
            )
            await self.create_phase(inputs)
            if bool(self.context.get("restarting", False)):
                await self.restart_phase(inputs)
        except Exception as exc:  # noqa: BLE001 - every legacy failure is a result
            error = error_json(exc, self.step, self.phase)
        configs = list(self.ctx.container_configs) if self.ctx is not None else []
        return {
            "container_configs": to_jsonable(configs),
            "kernel": kernel_json(self.kernel) if self.kernel is not None else None,
            "error": error,
        }

    def new_context(self, inputs: Inputs, *, restarting: bool) -> Any:
        """A real DockerKernelCreationContext (stub 4 for the unused producer)."""
        config = inputs.config
        return self.legacy.DockerKernelCreationContext(
            inputs.ownership,
            UnusedDependency("event_producer"),
            inputs.image_ref,
            copy.deepcopy(inputs.kernel_config),
            inputs.distro,
            config,
            inputs.computers,
            self.legacy.PortPool(
                tuple(config.container.port_range),
                config.container.port_reuse_cooldown_sec,
            ),
            inputs.agent_sockpath,
            asyncio.Lock(),
            self.legacy.NetworkPluginContext(None, {}),
            restarting=restarting,
            cluster_ssh_port_mapping=inputs.cluster_info.get(
                "cluster_ssh_port_mapping"
            ),
            gwbridge_subnet=None,
            seccomp_profile_as_path=False,
        )

    def default_environ(self, ctx: Any) -> dict[str, str]:
        """§2.1 rows 1-3 (used only when the context has no environ)."""
        kernel_config = as_dict(self.context.get("kernel_config"))
        environ = {
            str(k): str(v) for k, v in as_dict(kernel_config.get("environ")).items()
        }
        uid_match = self.legacy.KernelFeatures.UID_MATCH in ctx.kernel_features
        container = ctx.local_config.container
        if (ouid := ctx.get_overriding_uid()) is not None:
            environ["LOCAL_USER_ID"] = str(ouid)
        elif uid_match:
            environ["LOCAL_USER_ID"] = str(container.kernel_uid)
        if (ogid := ctx.get_overriding_gid()) is not None:
            environ["LOCAL_GROUP_ID"] = str(ogid)
        elif uid_match:
            environ["LOCAL_GROUP_ID"] = str(container.kernel_gid)
        return environ

    def environ_for(self, ctx: Any) -> dict[str, str]:
        """The context's environ, or legacy's default when it has none."""
        given = self.context.get("environ")
        if given is None:
            return self.default_environ(ctx)
        return {str(k): str(v) for k, v in given.items()}

    async def create_phase(self, inputs: Inputs) -> None:
        """New kernel: create_kernel steps A9, B1, B2, B3, B8, B15 (§2)."""
        self.phase, self.step = "create", "build_context"
        self.ctx = ctx = self.new_context(inputs, restarting=False)
        environ = self.environ_for(ctx)
        self.step = "get_intrinsic_mounts"
        intrinsic = await ctx.get_intrinsic_mounts()
        self.step = "prepare_scratch"
        await ctx.prepare_scratch()
        await self._network_and_ssh(ctx, inputs)
        self.step = "build_resource_spec"
        resource_spec = build_resource_spec(
            self.legacy, self.context, inputs.kernel_config, intrinsic
        )
        self.step = "process_mounts"
        await ctx.process_mounts(resource_spec.mounts)
        self.step = "prepare_container"
        ctx.computer_docker_args = copy.deepcopy(
            dict(as_dict(self.context.get("computer_docker_args")))
        )
        self.kernel = await ctx.prepare_container(
            resource_spec, environ, [], inputs.cluster_info
        )

    async def restart_phase(self, inputs: Inputs) -> None:
        """Restart: resource spec from resource.txt, then B2, B3, B8, B15 (§15)."""
        self.phase, self.step = "restart", "build_context"
        self.kernel = None
        self.ctx = ctx = self.new_context(inputs, restarting=True)
        environ = self.environ_for(ctx)
        self.step = "prepare_resource_spec"
        resource_spec, _resource_opts = await ctx.prepare_resource_spec()
        await self._network_and_ssh(ctx, inputs)
        self.step = "process_mounts"
        await ctx.process_mounts(resource_spec.mounts)
        self.step = "prepare_container"
        self.kernel = await ctx.prepare_container(
            resource_spec, environ, [], inputs.cluster_info
        )

    async def _network_and_ssh(self, ctx: Any, inputs: Inputs) -> None:
        """Steps B2 and B3 (both phases)."""
        self.step = "apply_network"
        await ctx.apply_network(inputs.cluster_info)
        self.step = "prepare_ssh"
        await ctx.prepare_ssh(inputs.cluster_info)
