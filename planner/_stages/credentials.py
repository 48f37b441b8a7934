"""``config/docker-creds.json`` (§12 step 5).

On new kernels and restarts, when ``internal_data.docker_credentials`` is truthy:
compact JSON in the given key order, umask mode, never chowned (H9). With the
``secret-file-modes`` quirk it is chmod'ed 0600 and owned like the kernel's other
files (OWN, §1.3).
"""

from __future__ import annotations

import orjson
from returns.result import Result

from .._context import Context
from .._layout import below, config_dir, new_file_mode
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["credentials"]

STAGE = "credentials"


def credentials(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the docker-creds.json step of ``prepare_container`` (§12 step 5)."""
    draft = Draft(ctx, up, STAGE)
    internal = ctx.kernel_config_document.get("internal_data") or {}
    assert isinstance(internal, dict)  # noqa: S101  (checked when the document was read)
    credentials = internal.get("docker_credentials")
    if credentials:  # compact JSON in the given key order
        data = orjson.dumps(credentials)
        path = below(config_dir(ctx), "docker-creds.json")
        draft.write(path, data, new_file_mode(ctx))
        if "secret-file-modes" in up.quirks:
            draft.chmod(path, 0o600)
            draft.own([path])
    return draft.result()
