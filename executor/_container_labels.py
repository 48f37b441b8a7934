"""The labels kplan puts on the containers it creates: a leak is always findable.

Their own module, free of aiodocker: what only names a label (a test's filter, a
report) does not load the Docker client (``executor._docker_host``).
"""

from __future__ import annotations

__all__ = ["KERNEL_LABEL", "PLAN_LABEL"]

PLAN_LABEL = "ai.backend.kplan.plan-id"
KERNEL_LABEL = "ai.backend.kernel-id"
