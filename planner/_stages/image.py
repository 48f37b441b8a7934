"""The image: its base distro, the architecture check and the pull (§2 A3, A5, A6).

``init_kernel_context`` resolves the distro first: the ``ai.backend.base-distro``
label, else what the agent's cache (or its probe containers) found, which kplan
takes from ``facts.image_distro``. Then ``create_kernel`` refuses an image built for
another architecture (``ImageArchitectureMismatchError``) and decides the pull
(``check_image``), skipped entirely for a local image: with ``auto_pull`` ``digest``
the image is pulled unless it is there with the expected id, with ``tag`` unless it
is there, and with ``none`` a missing image is an error (``ImageNotAvailable``).
The pull is bounded by ``api.pull_timeout``.
"""

from __future__ import annotations

from returns.result import Result

from effects import PullImage

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["image", "needs_pull"]

STAGE = "image"
DISTRO_LABEL = "ai.backend.base-distro"


def image(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan A3, A5 and A6 of ``create_kernel`` (§2)."""
    draft = Draft(ctx, up, STAGE)
    distro = ctx.label(DISTRO_LABEL) or ctx.facts.image_distro
    if not distro:
        draft.fail(
            "unsupported",
            f"kernel_config.image.labels.{DISTRO_LABEL}",
            "missing",
            "the base distro is unknown: legacy probes the image with throwaway "
            "containers (§2 A3); give the label or facts.image_distro",
        )
    arch = ctx.image_ref.architecture
    if arch != ctx.facts.arch:
        draft.fail(
            "crash",
            "kernel_config.image.architecture",
            arch,
            f"cannot run a {arch} image on this {ctx.facts.arch} agent: legacy "
            "raises ImageArchitectureMismatchError (§2 A5)",
        )
    _pull(ctx, draft)
    draft.thread(distro=distro or "")
    return draft.result()


def needs_pull(ctx: Context) -> bool | None:
    """``check_image``'s answer from the facts; ``None`` where legacy raises."""
    if ctx.image.is_local:
        return False
    present, policy = ctx.facts.image_present, ctx.kernel_config.auto_pull
    if present is None:
        return False  # nothing known against it: the executor checks again
    if not present:
        return None if policy == "none" else True
    return policy == "digest" and ctx.facts.image_id != ctx.image.digest


def _pull(ctx: Context, draft: Draft) -> None:
    match needs_pull(ctx):
        case True:
            timeout = ctx.local.api.pull_timeout
            draft.add(
                PullImage(
                    ref=ctx.image_ref.canonical,
                    digest=ctx.image.digest or None,
                    # 0 s: legacy's pull times out at once, as it does in 1 ms
                    timeout_ms=None if timeout is None else max(1, int(timeout * 1000)),
                )
            )
        case None:
            draft.fail(
                "crash",
                "kernel_config.auto_pull",
                "none",
                f"{ctx.image_ref.canonical} is not on this host and auto_pull is "
                "'none': legacy raises ImageNotAvailable (§2 A6)",
            )
        case _:
            pass
