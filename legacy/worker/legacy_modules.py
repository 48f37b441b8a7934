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

    # modules whose globals the runner replaces (stubs 1, 5, 6, 7)
    docker_agent_module: Any  # ai.backend.agent.docker.agent: Docker, secrets
    docker_kernel_module: Any  # ai.backend.agent.docker.kernel: Docker
    intrinsic_module: Any  # ai.backend.agent.docker.intrinsic: Docker
    docker_utils_module: Any  # ai.backend.agent.docker.utils: Docker
    resources_module: Any  # ai.backend.agent.resources: known_slot_types
    utils_module: Any  # ai.backend.agent.utils: resource (get_safe_ulimit)
    DockerAgent: Any
    DockerKernel: Any
    DockerKernelCreationContext: Any
    CPUPlugin: Any
    MemoryPlugin: Any
    AgentUnifiedConfig: Any
    AutoDirectoryPath: Any
    KernelOwnershipData: Any
    ImageRef: Any
    ComputerContext: Any
    MountInfo: Any
    MountTypes: Any
    SlotName: Any
    SlotTypes: Any
    DeviceId: Any
    LifecycleEvent: Any
    KernelLifecycleEventReason: Any
    NetworkPluginContext: Any
    PortPool: Any
    DockerError: Any
    version: str
    runner_dir: Path  # files("ai.backend.runner"), as legacy finds its runner files
    dropbear_name: str  # "dropbearmulti.<arch>.bin" as prepare_ssh names it (§8 step 2)


def load_legacy() -> Legacy:
    """Import the legacy agent (~2-4 s); must run before any request is served."""
    # ruff: noqa: PLC0415 - legacy dependencies, imported lazily in the legacy venv
    from ai.backend.agent import resources as resources_module
    from ai.backend.agent import utils as utils_module
    from ai.backend.agent.config.unified import AgentUnifiedConfig
    from ai.backend.agent.docker import agent as docker_agent_module
    from ai.backend.agent.docker import intrinsic as intrinsic_module
    from ai.backend.agent.docker import kernel as docker_kernel_module
    from ai.backend.agent.docker import utils as docker_utils_module
    from ai.backend.agent.plugin.network import NetworkPluginContext
    from ai.backend.agent.port_pool import PortPool
    from ai.backend.agent.types import KernelOwnershipData, LifecycleEvent, MountInfo
    from ai.backend.agent.utils import get_arch_name
    from ai.backend.common.docker import ImageRef
    from ai.backend.common.events.kernel import KernelLifecycleEventReason
    from ai.backend.common.typed_validators import AutoDirectoryPath
    from ai.backend.common.types import DeviceId, MountTypes, SlotName, SlotTypes
    from aiodocker.exceptions import DockerError

    return Legacy(
        docker_agent_module=docker_agent_module,
        docker_kernel_module=docker_kernel_module,
        intrinsic_module=intrinsic_module,
        docker_utils_module=docker_utils_module,
        resources_module=resources_module,
        utils_module=utils_module,
        DockerAgent=docker_agent_module.DockerAgent,
        DockerKernel=docker_kernel_module.DockerKernel,
        DockerKernelCreationContext=docker_agent_module.DockerKernelCreationContext,
        CPUPlugin=intrinsic_module.CPUPlugin,
        MemoryPlugin=intrinsic_module.MemoryPlugin,
        AgentUnifiedConfig=AgentUnifiedConfig,
        AutoDirectoryPath=AutoDirectoryPath,
        KernelOwnershipData=KernelOwnershipData,
        ImageRef=ImageRef,
        ComputerContext=resources_module.ComputerContext,
        MountInfo=MountInfo,
        MountTypes=MountTypes,
        SlotName=SlotName,
        SlotTypes=SlotTypes,
        DeviceId=DeviceId,
        LifecycleEvent=LifecycleEvent,
        KernelLifecycleEventReason=KernelLifecycleEventReason,
        NetworkPluginContext=NetworkPluginContext,
        PortPool=PortPool,
        DockerError=DockerError,
        version=importlib.metadata.version(LEGACY_DISTRIBUTION),
        runner_dir=Path(str(importlib.resources.files("ai.backend.runner"))),
        dropbear_name=f"dropbearmulti.{get_arch_name()}.bin",
    )
