"""kplan's executor: the only IO. Fact gathering, snapshots, apply and rollback."""

from ._facts import gather_facts, runner_facts, scratch_facts
from ._snapshot import snapshot

__all__ = ["gather_facts", "runner_facts", "scratch_facts", "snapshot"]
