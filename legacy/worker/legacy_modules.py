"""The legacy agent's modules and classes, imported once in the parent.

The children inherit them through ``fork``, so a run does not pay the 2-4 s import.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEGACY_DISTRIBUTION = "backend-ai-agent"


@dataclass(frozen=True)
class Legacy:
    """References to the legacy modules and classes this worker drives."""

    docker_agent_module: Any  # a module; its ``Docker`` is replaced (stub 1)
    resources_module: Any  # a module; its ``known_slot_types`` is filled (stub 5)
    DockerKernelCreationContext: Any
    AgentUnifiedConfig: Any
    AutoDirectoryPath: Any
    KernelOwnershipData: Any
    ImageRef: Any
    KernelResourceSpec: Any
    ComputerContext: Any
    Mount: Any
    MountTypes: Any
    MountPermission: Any
    ResourceSlot: Any
    SlotName: Any
    SlotTypes: Any
    KernelFeatures: Any
    NetworkPluginContext: Any
    PortPool: Any
    version: str
    runner_dir: (
        Path  # files("ai.backend.runner"), as prepare_scratch/prepare_ssh find it
    )
    dropbear_name: str  # "dropbearmulti.<arch>.bin" as prepare_ssh names it (§8 step 2)


def load_legacy() -> Legacy:
    """Import the legacy agent (~2-4 s); must run before any request is served."""
    from ai.backend.agent import resources as resources_module  # noqa: PLC0415
    from ai.backend.agent.config.unified import AgentUnifiedConfig  # noqa: PLC0415
    from ai.backend.agent.docker import agent as docker_agent_module  # noqa: PLC0415
    from ai.backend.agent.plugin.network import NetworkPluginContext  # noqa: PLC0415
    from ai.backend.agent.port_pool import PortPool  # noqa: PLC0415
    from ai.backend.agent.types import KernelOwnershipData  # noqa: PLC0415
    from ai.backend.agent.utils import get_arch_name  # noqa: PLC0415
    from ai.backend.common.docker import ImageRef, KernelFeatures  # noqa: PLC0415
    from ai.backend.common.typed_validators import AutoDirectoryPath  # noqa: PLC0415
    from ai.backend.common.types import (  # noqa: PLC0415
        MountPermission,
        MountTypes,
        ResourceSlot,
        SlotName,
        SlotTypes,
    )

    return Legacy(
        docker_agent_module=docker_agent_module,
        resources_module=resources_module,
        DockerKernelCreationContext=docker_agent_module.DockerKernelCreationContext,
        AgentUnifiedConfig=AgentUnifiedConfig,
        AutoDirectoryPath=AutoDirectoryPath,
        KernelOwnershipData=KernelOwnershipData,
        ImageRef=ImageRef,
        KernelResourceSpec=resources_module.KernelResourceSpec,
        ComputerContext=resources_module.ComputerContext,
        Mount=resources_module.Mount,
        MountTypes=MountTypes,
        MountPermission=MountPermission,
        ResourceSlot=ResourceSlot,
        SlotName=SlotName,
        SlotTypes=SlotTypes,
        KernelFeatures=KernelFeatures,
        NetworkPluginContext=NetworkPluginContext,
        PortPool=PortPool,
        version=importlib.metadata.version(LEGACY_DISTRIBUTION),
        runner_dir=Path(str(importlib.resources.files("ai.backend.runner"))),
        dropbear_name=f"dropbearmulti.{get_arch_name()}.bin",
    )
