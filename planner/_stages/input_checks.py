"""Inputs legacy cannot handle safely, refused before anything is planned.

These hazards cut across stages; those of one stage live with it (dotfile paths in
dotfiles, the hostfile size in scratch, NUL bytes in mount paths in mounts). Each
refusal names the field, the value and what legacy would do:

* a newline or NUL in an environ key or value, or ``=`` in a key, corrupts
  ``environ.txt`` (H21) or makes legacy raise;
* a non-ASCII container SSH key makes legacy raise ``UnicodeEncodeError`` half-way
  through ``prepare_container`` (§12.4);
* domain-socket proxies start servers on the host during planning in legacy
  (§5 row 11); kplan does not plan them yet.
"""

from __future__ import annotations

from returns.result import Result

from .._context import Context
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["inputs"]

STAGE = "inputs"


def inputs(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Refuse context values that legacy would turn into damage or a crash."""
    draft = Draft(ctx, up, STAGE)
    _environ(draft, "environ", ctx.environ)
    _environ(draft, "kernel_config.environ", ctx.kernel_config.environ)
    for index, item in enumerate(ctx.computer_env):
        if "\n" in item or "\x00" in item:
            draft.fail(
                "hazard",
                f"computer_docker_args.Env[{index}]",
                repr(item),
                "H21: a newline or NUL corrupts environ.txt",
            )
    _ssh_keys(ctx, draft)
    if ctx.kernel_config.domain_socket_proxies:
        draft.fail(
            "unsupported",
            "kernel_config.internal_data.domain_socket_proxies",
            repr(list(ctx.kernel_config.domain_socket_proxies)),
            "domain-socket proxies (§5 row 11) are not planned yet",
        )
    return draft.result()


def _environ(draft: Draft, field: str, items: tuple[tuple[str, str], ...]) -> None:
    for key, value in items:
        if not key or "=" in key or "\n" in key or "\x00" in key:
            draft.fail(
                "hazard",
                f"{field}.{key}",
                repr(key),
                "H21: an empty key or one with '=', a newline or NUL corrupts "
                "environ.txt",
            )
        if "\n" in value or "\x00" in value:
            draft.fail(
                "hazard",
                f"{field}.{key}",
                repr(value),
                "H21: a newline or NUL in a value corrupts environ.txt",
            )


def _ssh_keys(ctx: Context, draft: Draft) -> None:
    keypair = ctx.kernel_config.ssh_keypair
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
