"""Inputs legacy cannot handle safely, refused before anything is planned.

These hazards cut across stages; those of one stage live with it (dotfile paths in
the dotfiles stage, the hostfile size in scratch, vfolder paths in vfolder-mounts).
Each refusal names the field, the value and what legacy would do:

* a newline or NUL in an environ key or value, or ``=`` in a key, corrupts
  ``environ.txt`` (H21) or makes legacy raise; so does one in a device plugin's
  ``Env`` item (it is written there too) or in a ``resource_data`` line;
* a non-ASCII container SSH key makes legacy raise ``UnicodeEncodeError`` half-way
  through ``prepare_container`` (§12.4).
"""

from __future__ import annotations

from returns.result import Result

from effects import thaw_object

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["inputs"]

STAGE = "inputs"
BAD = ("\n", "\x00")


def inputs(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Refuse context values that legacy would turn into damage or a crash."""
    draft = Draft(ctx, up, STAGE)
    _environ(draft, "kernel_config.environ", tuple(ctx.kernel_config.environ.items()))
    for device, answers in ctx.facts.devices.items():
        env = thaw_object(answers.docker_args).get("Env")
        for index, item in enumerate(env if isinstance(env, list) else ()):
            if not isinstance(item, str) or any(c in item for c in BAD):
                draft.fail(
                    "hazard",
                    f"facts.devices.{device}.docker_args.Env[{index}]",
                    repr(item),
                    "H21: not a line of text: it corrupts environ.txt",
                )
        for key, value in answers.resource_data.items():
            if any(c in key + value for c in BAD) or "=" in key:
                draft.fail(
                    "hazard",
                    f"facts.devices.{device}.resource_data.{key}",
                    repr(value),
                    "H21: a newline, NUL or '=' corrupts resource.txt",
                )
    _ssh_keys(ctx, draft)
    return draft.result()


def _environ(draft: Draft, field: str, items: tuple[tuple[str, str], ...]) -> None:
    for key, value in items:
        if not key or "=" in key or any(c in key for c in BAD):
            draft.fail(
                "hazard",
                f"{field}.{key}",
                repr(key),
                "H21: an empty key or one with '=', a newline or NUL corrupts "
                "environ.txt",
            )
        if any(c in value for c in BAD):
            draft.fail(
                "hazard",
                f"{field}.{key}",
                repr(value),
                "H21: a newline or NUL in a value corrupts environ.txt",
            )


def _ssh_keys(ctx: Context, draft: Draft) -> None:
    keypair = ctx.internal.ssh_keypair
    if keypair is None:
        return
    for name in ("public_key", "private_key"):
        value = getattr(keypair, name)
        if not value.isascii():
            draft.fail(
                "hazard",
                f"kernel_config.internal_data.ssh_keypair.{name}",
                repr(value[:40]),
                "not ASCII: legacy raises UnicodeEncodeError in prepare_container",
            )
