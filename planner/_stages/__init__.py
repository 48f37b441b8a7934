"""The stages, one module each, and their order (architecture.md §3.2).

The order is data, legacy's ``create_kernel`` (§2): the input checks first; the
image (A3, A5, A6), the resource spec (A8) and the intrinsic mounts (A9); then
prepare_scratch (B1), apply_network (B2) and prepare_ssh (B3); the vfolder, kernel
runner and device mounts (B4, B5); the environ (§2.1, gathering A4-B12); the
container's mounts (B8), its service ports (B11, B12) and command line (B13); the
restart files (B14); prepare_container's steps (B15, §12): bootstrap, config
files, base copies, credentials, container SSH, dotfiles and the kernel object;
and start_container (B17, §14): the host ports, the container itself and, when
asked for, readiness.

"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

from returns.result import Result

from .._context import Context
from .._stage_api import Part, Upstream
from ..errors import PlanError
from .base_copies import base_copies
from .bootstrap import bootstrap
from .cluster_ssh import ssh
from .cmdargs import cmdargs
from .config_files import config_files
from .container_create import container
from .container_ssh import container_ssh
from .credentials import credentials
from .device_mounts import device_mounts_stage
from .docker_mounts import docker_mounts
from .environ import environ
from .host_ports import host_ports
from .image import image
from .input_checks import inputs
from .intrinsic_mounts import intrinsic_mounts
from .kernel_record import kernel
from .krunner_mounts import krunner_mounts
from .network import network
from .readiness import readiness
from .resource_spec import resource_spec
from .restart_config import restart_config
from .scratch import scratch
from .service_ports import service_ports
from .user_dotfiles import dotfiles
from .vfolder_mounts import vfolder_mounts

__all__ = ["OVERRIDING_STAGES", "STAGES", "Stage", "Stages"]

Stage: TypeAlias = Callable[[Context, Upstream], Result[Part, tuple[PlanError, ...]]]
Stages: TypeAlias = tuple[tuple[str, Stage], ...]  # (name, stage) in run order

STAGES: Final[Stages] = (
    ("inputs", inputs),
    ("image", image),
    ("resource-spec", resource_spec),
    ("intrinsic-mounts", intrinsic_mounts),
    ("scratch", scratch),
    ("network", network),
    ("ssh", ssh),
    ("vfolder-mounts", vfolder_mounts),
    ("krunner-mounts", krunner_mounts),
    ("device-mounts", device_mounts_stage),
    ("environ", environ),
    ("docker-mounts", docker_mounts),
    ("service-ports", service_ports),
    ("cmdargs", cmdargs),
    ("restart-config", restart_config),
    ("bootstrap", bootstrap),
    ("config-files", config_files),
    ("base-copies", base_copies),
    ("credentials", credentials),
    ("container-ssh", container_ssh),
    ("dotfiles", dotfiles),
    ("kernel", kernel),
    ("host-ports", host_ports),
    ("container", container),
    ("readiness", readiness),
)


# Stages allowed to overwrite what an earlier stage wrote: later dotfiles win over
# the runner's dotfiles and the SSH files, as in legacy (§12.5).
OVERRIDING_STAGES: Final = frozenset({"dotfiles"})
