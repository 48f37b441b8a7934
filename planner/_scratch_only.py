"""A plan's scratch part: what ``kplan apply --scratch-only`` applies.

Its own module, beside the compiler: applying a plan file needs it, and loads no
stage (``kplan apply PLAN`` starts without the planner's stages).
"""

from __future__ import annotations

from effects import Plan, WriteFile, is_container_effect, seal

from ._edges import edges_of

__all__ = ["scratch_only"]


def scratch_only(plan: Plan) -> Plan:
    """``plan`` without its container's steps: the scratch, ready for a container.

    What ``kplan apply --scratch-only`` applies: every filesystem effect and every
    data effect (mount entries, config fragments, the kernel record), none of
    those that need Docker, host ports or socket proxies. A new plan, with its
    own id and edges.
    """
    steps = tuple(step for step in plan.steps if not is_container_effect(step.effect))
    kept = {s.effect.blob for s in steps if isinstance(s.effect, WriteFile)}
    blobs = [blob for blob in plan.blobs if blob.digest in kept]
    return seal(plan.header, steps, blobs, edges_of(steps))
