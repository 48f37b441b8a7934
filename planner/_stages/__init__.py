"""The provisioners, one module per stage, and their order (architecture.md §3.2).

The order is data, following legacy's ``create_kernel`` (§2):
inputs are checked first, then prepare_scratch (B1), apply_network (B2),
prepare_ssh (B3), process_mounts (B8), and prepare_container's steps (B15, §12):
bootstrap, config files, base copies, credentials, container SSH, dotfiles and
the kernel object.
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
from .config_files import config_files
from .container_create import container
from .container_ssh import container_ssh
from .credentials import credentials
from .docker_mounts import mounts
from .input_checks import inputs
from .kernel_record import kernel
from .network import network
from .scratch import scratch
from .user_dotfiles import dotfiles

__all__ = ["CONTAINER_STAGES", "OVERRIDING_STAGES", "STAGES", "Stage"]

Stage: TypeAlias = Callable[[Context, Upstream], Result[Part, tuple[PlanError, ...]]]

STAGES: Final[tuple[tuple[str, Stage], ...]] = (
    ("inputs", inputs),
    ("scratch", scratch),
    ("network", network),
    ("ssh", ssh),
    ("mounts", mounts),
    ("bootstrap", bootstrap),
    ("config-files", config_files),
    ("base-copies", base_copies),
    ("credentials", credentials),
    ("container-ssh", container_ssh),
    ("dotfiles", dotfiles),
    ("kernel", kernel),
)

CONTAINER_STAGES: Final[tuple[tuple[str, Stage], ...]] = (("container", container),)

# Stages allowed to overwrite what an earlier stage wrote: later dotfiles win
# over the runner's dotfiles and the SSH files, as in legacy (§12.5).
OVERRIDING_STAGES: Final = frozenset({"dotfiles"})
