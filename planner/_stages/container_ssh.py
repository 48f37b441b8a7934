"""The container user's SSH key pair under ``work`` (§12.4).

On new kernels and restarts, when ``internal_data.ssh_keypair`` is set and nothing
is mounted exactly at ``/home/work/.ssh`` (found, like legacy, by the second
``:``-field of each mount's string form, H20): ``.ssh`` 0700, ``authorized_keys``
overwritten 0600 (H31), ``id_rsa`` only if it is not already a regular file,
``work/id_container`` always, then OWN (§1.3) on the four paths. The keys must be
ASCII; the compiler refuses others before this stage runs.
"""

from __future__ import annotations

from returns.result import Result

from .._context import Context
from .._layout import below, new_dir_mode, new_file_mode, work_dir
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["container_ssh", "has_ssh_mount"]

STAGE = "container-ssh"
SSH_TARGET = "/home/work/.ssh"


def has_ssh_mount(up: Upstream) -> bool:
    """True if some mount's ``str()`` has ``/home/work/.ssh`` as its second field."""
    return any(
        len(fields) > 1 and fields[1] == SSH_TARGET
        for fields in (mount.legacy_str().split(":") for mount in up.mounts)
    )


def container_ssh(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the SSH key pair step of ``prepare_container`` (§12.4)."""
    draft = Draft(ctx, up, STAGE)
    keypair = ctx.internal.ssh_keypair
    if keypair is None or has_ssh_mount(up):
        return draft.result()
    public, private = keypair.public_key.encode(), keypair.private_key.encode()
    work = work_dir(ctx)
    ssh_dir = below(work, ".ssh")
    draft.makedirs(ssh_dir, new_dir_mode(ctx))
    draft.chmod(ssh_dir, 0o700)
    files = (
        (below(ssh_dir, "authorized_keys"), public, True),
        (below(ssh_dir, "id_rsa"), private, False),
        (below(work, "id_container"), private, True),
    )
    for path, data, always in files:
        if always or draft.kind(path) != "file":
            draft.write(path, data, new_file_mode(ctx))
            draft.chmod(path, 0o600)
    draft.own([ssh_dir, *(path for path, _, _ in files)])
    return draft.result()
