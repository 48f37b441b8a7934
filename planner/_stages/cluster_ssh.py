"""prepare_ssh: the cluster SSH files under ``config/ssh`` (§8).

Runs on new kernels and on restarts. Without the runner's ``dropbearmulti`` binary
legacy stops right after creating the directory, writing neither the host key nor
the cluster keys, and only logs it (H8); the plan does the same. An existing host
key is kept; a new one is generated and chmod'ed 0600. The cluster key pair is
written verbatim, only ``id_cluster`` gets 0600, and OWN (§1.3) covers the host key
and both key files. ``port-mapping.json`` is written only with a key pair.
"""

from __future__ import annotations

import orjson
from returns.result import Result

from effects import HOST_KEY_NAME, GenerateHostKey, public_key_path

from .._context import Context
from .._inputs import ClusterKeyPair
from .._layout import below, config_dir, new_dir_mode, new_file_mode
from .._stage_api import Draft, Part, Upstream
from ..errors import PlanError

__all__ = ["ssh"]

STAGE = "ssh"


def ssh(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan ``prepare_ssh(cluster_info)`` (§8)."""
    draft = Draft(ctx, up, STAGE)
    ssh_dir = below(config_dir(ctx), "ssh")
    draft.makedirs(ssh_dir, new_dir_mode(ctx))
    if not ctx.facts.runner.has_dropbear:
        return draft.result()
    host_key = below(ssh_dir, HOST_KEY_NAME)
    if draft.kind(host_key) is None:
        draft.add(GenerateHostKey(path=host_key, kind="rsa", bits=2048))
        draft.chmod(host_key, 0o600)
    owned = [host_key]
    keypair = ctx.cluster.ssh_keypair
    if keypair is not None:
        if keypair.private_key is None or keypair.public_key is None:
            _half_keypair(draft, keypair)
            return draft.result()
        private = below(ssh_dir, "id_cluster")
        public = public_key_path(private)
        draft.write(private, keypair.private_key.encode(), new_file_mode(ctx))
        draft.write(public, keypair.public_key.encode(), new_file_mode(ctx))
        draft.chmod(private, 0o600)
        owned += [private, public]
        mapping = orjson.loads(ctx.cluster_info_json).get("cluster_ssh_port_mapping")
        if mapping:  # compact JSON in the given key order
            path = below(ssh_dir, "port-mapping.json")
            draft.write(path, orjson.dumps(mapping), new_file_mode(ctx))
    draft.own(owned)
    return draft.result()


def _half_keypair(draft: Draft, keypair: ClusterKeyPair) -> None:
    missing = "private_key" if keypair.private_key is None else "public_key"
    consequence = (
        "writes no key, and leaves the host key unchowned"
        if missing == "private_key"
        else "leaves id_cluster, the private key, world-readable (0644) and unchowned"
    )
    draft.fail(
        "hazard",
        f"cluster_info.ssh_keypair.{missing}",
        "missing",
        f"H38: legacy's prepare_ssh logs the KeyError and goes on: it {consequence}",
    )
