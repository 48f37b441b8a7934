"""The planner's input: an immutable ``Context``, built once from inputs and facts.

Legacy reads its inputs from many places while it runs (``kernel_config``,
``cluster_info``, the agent's config, the allocation, the host itself). kplan reads
them all, host facts included, into this one value before planning (architecture.md
§3.1), so a stage is a pure function of it. It is built only by the named
constructors of ``planner._document`` (a context file) and ``planner._agent`` (the
agent's own objects). The typed views come from ``planner._inputs`` and
``planner._facts``; the manager's mappings are also kept as they came (orjson
bytes, key order kept), because legacy writes them to files (§2 B14).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import final

import attrs
import orjson

from ._binary_size import parse_binary_size
from ._facts import Facts
from ._image_ref import ImageRef, image_ref
from ._inputs import ClusterInfo, ImageConfig, InternalData, KernelConfig, LocalConfig

__all__ = ["INTRINSIC_DEVICES", "UID_MATCH", "Allocations", "Context"]

# device -> slot -> device id -> amount (``str(Decimal)``), in the agent's order
Allocations = tuple[
    tuple[str, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]], ...
]
UID_MATCH = "uid-match"
DEFAULT_FEATURES = "uid-match"
INTRINSIC_DEVICES = ("cpu", "mem")


@final
@attrs.frozen(kw_only=True)
class Context:
    """Everything one kernel's creation depends on."""

    kernel_id: str
    session_id: str
    agent_id: str
    restarting: bool
    kernel_config: KernelConfig
    kernel_config_json: bytes
    updating_kernel_config_json: bytes
    cluster: ClusterInfo
    cluster_info_json: bytes
    local: LocalConfig
    allocations: Allocations
    facts: Facts
    notes: tuple[str, ...] = ()

    @property
    def image(self) -> ImageConfig:
        """``kernel_config["image"]`` (always set once the document is read)."""
        image = self.kernel_config.image
        assert image is not None  # noqa: S101  (checked when the document was read)
        return image

    @cached_property
    def kernel_config_document(self) -> Mapping[str, object]:
        """``kernel_config`` as the manager sent it, keys in its order (read-only
        at the top; what is below is the stages' to read, not to change).

        Parsed once per context: two stages read it (the credentials' bytes and
        the kconfig pickle), and it holds every dotfile's content.
        """
        return MappingProxyType(orjson.loads(self.kernel_config_json))

    @cached_property
    def image_ref(self) -> ImageRef:
        """The parsed image reference (checked when the document was read)."""
        return image_ref(self.image)

    def label(self, name: str, default: str = "") -> str:
        """The image label ``name``, or ``default``."""
        return self.image.labels.get(name, default)

    @property
    def features(self) -> frozenset[str]:
        """``ai.backend.features`` as a set (§1.2)."""
        return frozenset(self.label("ai.backend.features", DEFAULT_FEATURES).split())

    @property
    def uid_match(self) -> bool:
        """True if the image has the ``uid-match`` feature (§1.2)."""
        return UID_MATCH in self.features

    @property
    def internal(self) -> InternalData:
        """``kernel_config["internal_data"] or {}`` (§1.2)."""
        return self.kernel_config.internal

    @property
    def kernel_uid(self) -> int:
        """``container.kernel_uid``, ``-1`` meaning the agent's own uid (§1.1)."""
        configured = self.local.container.kernel_uid
        return self.facts.uid if configured == -1 else configured

    @property
    def kernel_gid(self) -> int:
        """``container.kernel_gid``, ``-1`` meaning the agent's own gid (§1.1)."""
        configured = self.local.container.kernel_gid
        return self.facts.gid if configured == -1 else configured

    @property
    def scratch_root(self) -> PurePosixPath:
        """``container.scratch_root`` as given (checked absolute)."""
        return PurePosixPath(self.local.container.scratch_root)

    @property
    def scratch_size(self) -> int:
        """``container.scratch_size`` in bytes (checked when read)."""
        return _bytes(self.local.container.scratch_size)

    @property
    def log_max_length(self) -> int:
        """``container_logs.max_length`` in bytes (checked when read)."""
        return _bytes(self.local.container_logs.max_length)

    @property
    def devices(self) -> tuple[str, ...]:
        """The compute plugins in the agent's order: cpu, mem, then the devices."""
        return (*INTRINSIC_DEVICES, *self.facts.devices)

    @property
    def allocation_map(
        self,
    ) -> Mapping[str, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]]:
        """``allocations`` as a lookup by device."""
        return dict(self.allocations)

    def first_run(self) -> Context:
        """The same inputs for a new kernel (how legacy ran before a restart)."""
        return attrs.evolve(self, restarting=False)


def _bytes(value: int | str) -> int:
    if isinstance(value, int):
        return value
    size = parse_binary_size(value)
    assert size is not None  # noqa: S101  (checked when the document was read)
    return size
