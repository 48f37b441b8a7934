"""The golden cases: hand-picked contexts, one per documented branch.

Each case is a change to ``tests.contexts.document()``. ``regen.py`` runs the real
legacy code on each (cases with ``errors`` are refused by kplan and never sent to
legacy) and stores the context, the facts legacy saw and the tree legacy left in
``cases/<name>.json``; ``test_golden.py`` checks kplan's plan against them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CASES", "HAZARDS"]

DOTFILES = "kernel_config.internal_data.dotfiles"
KEYPAIR = {
    "public_key": "ssh-ed25519 AAAAGOLDEN user\n",
    "private_key": "GOLDEN-PRIVATE\n",
}
CLUSTER = {"public_key": "ssh-rsa AAAACLUSTER c\n", "private_key": "CLUSTER-PRIVATE\n"}
NO_UID_MATCH = {"image.labels": {"ai.backend.features": "batch"}}
EVERYTHING: dict[str, Any] = {
    "kernel_config.bootstrap_script": "#!/bin/sh\necho golden",
    "kernel_config.internal_data.docker_credentials": {"cr.io": {"password": "p"}},
    "kernel_config.internal_data.ssh_keypair": KEYPAIR,
    "cluster_info.ssh_keypair": CLUSTER,
    "cluster_info.cluster_ssh_port_mapping": {"main1": ["10.1.1.1", 2200]},
    DOTFILES: [{"path": ".config/tool/rc", "perm": "640", "data": "a=1"}],
}

# name -> (what it covers, changes)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "own-both-uid-match": (
        "§1.3 row 1 with uid-match: ouid:ogid",
        {**EVERYTHING, "kernel_config.uid": 2001, "kernel_config.main_gid": 2002},
    ),
    "own-both-no-uid-match": (
        "§1.3 row 1 without uid-match: ouid:ogid",
        {
            **EVERYTHING,
            **NO_UID_MATCH,
            "kernel_config.uid": 2001,
            "kernel_config.main_gid": 2002,
        },
    ),
    "own-uid-only-uid-match": (
        "§1.3 row 2: ouid:kernel_gid",
        {**EVERYTHING, "kernel_config.uid": 2001},
    ),
    "own-gid-only-uid-match": (
        "§1.3 row 3: kernel_uid:ogid",
        {**EVERYTHING, "kernel_config.main_gid": 2002},
    ),
    "own-uid-only-no-uid-match": (
        "§1.3 row 4: ouid, group unchanged",
        {**EVERYTHING, **NO_UID_MATCH, "kernel_config.uid": 2001},
    ),
    "own-gid-only-no-uid-match": (
        "§1.3 row 5: owner unchanged, ogid",
        {**EVERYTHING, **NO_UID_MATCH, "kernel_config.main_gid": 2002},
    ),
    "own-none-uid-match": ("§1.3 row 6: kernel_uid:kernel_gid", EVERYTHING),
    "own-none-no-uid-match": ("§1.3 row 7: untouched", {**EVERYTHING, **NO_UID_MATCH}),
    "not-root": (
        "§1.3: no chown at all when the agent is not root; umask 027",
        {
            **EVERYTHING,
            "facts.is_root": False,
            "facts.uid": 1500,
            "facts.gid": 1500,
            "facts.umask": "0o27",
        },
    ),
    "scratch-memory": (
        "§4.1 memory: tmpfs on the tmp dir only (H6)",
        {**EVERYTHING, "local_config.container.scratch_type": "memory"},
    ),
    "scratch-hostfile": (
        "§4.1 hostfile: ext4 image loop-mounted on the scratch dir",
        {
            **EVERYTHING,
            "local_config.container.scratch_type": "hostfile",
            "local_config.container.scratch_size": "32m",
        },
    ),
    "scratch-k8s-nfs": (
        "§4.1 k8s-nfs falls back to a plain directory",
        {"local_config.container.scratch_type": "k8s-nfs"},
    ),
    "restart": (
        "§15: a restart after a first run on the same inputs",
        {**EVERYTHING, "restarting": True, "kernel_config.uid": 2001},
    ),
    "restart-ssh-mount": (
        "§15 + §12.4: a restart with /home/work/.ssh mounted",
        {
            **EVERYTHING,
            "restarting": True,
            "mounts": [
                {"source": "/srv/keys", "target": "/home/work/.ssh", "permission": "ro"}
            ],
        },
    ),
    "ssh-mount": (
        "§12.4: nothing mounted at /home/work/.ssh gets keys; H20",
        {
            **EVERYTHING,
            "mounts": [
                {
                    "source": "/srv/keys",
                    "target": "/home/work/.ssh",
                    "permission": "rw",
                    "opts": {"Propagation": "rprivate"},
                },
                {
                    "type": "volume",
                    "source": "vol",
                    "target": "/opt/x",
                    "permission": "wd",
                },
            ],
        },
    ),
    "no-dropbear": (
        "§8 H8: without dropbearmulti no host key and no cluster keys",
        {**EVERYTHING, "facts.runner.has_dropbear": False},
    ),
    "dotfile-paths": (
        "§12.5 path rules, nesting, the mode walk (H3), later entries win",
        {
            **EVERYTHING,
            DOTFILES: [
                {"path": "a/b/c.txt", "perm": "640", "data": "first"},
                {
                    "path": "/home/work/a/b/c.txt",
                    "perm": "600",
                    "data": "second wins\n",
                },
                {
                    "path": "/home/work/.bashrc",
                    "perm": "700",
                    "data": "over the runner's",
                },
                {"path": "/home/./work/x/y", "perm": "644", "data": "dot part"},
                {"path": "plain", "perm": "755", "data": ""},
                {"path": ".ssh/config", "perm": "644", "data": "Host *"},
            ],
        },
    ),
    "environ-and-resources": (
        "§12.1, §12.2: environ order, accelerator Env, shares, plugin data",
        {
            "environ": {"Z_LAST": "1", "A_FIRST": "x=y", "ADDITIONAL_GIDS": "12,7"},
            "computer_docker_args": {"Env": ["ACC=1"]},
            "resource_spec": {
                "slots": {"cpu": "2", "mem": "1234567", "cuda.shares": "0.5"},
                "allocations": {
                    "cuda": {"cuda.shares": {"0": "0.5"}},
                    "cpu": {"cpu": {"0": "1", "3": "1"}},
                    "mem": {"mem": {"root": "1234567"}},
                },
                "unified_devices": [["cuda", "cuda.shares"]],
                "known_slot_types": {
                    "cpu": "count",
                    "mem": "bytes",
                    "cuda.shares": "count",
                },
            },
            "resource_data": {"cuda": {"CUDA_GLOBAL_DEVICE_IDS": "0"}},
        },
    ),
    "network": (
        "§7: bridge network and an alternative bridge",
        {
            "cluster_info.network_config": {
                "mode": "bridge",
                "network_name": "bai-golden",
            },
            "local_config.container.alternative_bridge": "br-alt",
        },
    ),
}

# name -> (what it covers, changes, refused field, error code)
HAZARDS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "hazard-absolute-outside": (
        "H1/H2",
        {DOTFILES: [{"path": "/etc/x", "perm": "644", "data": ""}]},
        f"{DOTFILES}[0].path",
        "hazard",
    ),
    "hazard-home-config": (
        "H1/H2",
        {DOTFILES: [{"path": "/home/config/environ.txt", "perm": "644", "data": ""}]},
        f"{DOTFILES}[0].path",
        "hazard",
    ),
    "hazard-home-other": (
        "H1",
        {DOTFILES: [{"path": "/home/alice/x", "perm": "644", "data": ""}]},
        f"{DOTFILES}[0].path",
        "hazard",
    ),
    "hazard-dotdot": (
        "H4",
        {DOTFILES: [{"path": "x/../../y", "perm": "644", "data": ""}]},
        f"{DOTFILES}[0].path",
        "hazard",
    ),
    "hazard-home": (
        "H5",
        {DOTFILES: [{"path": "/home/", "perm": "644", "data": ""}]},
        f"{DOTFILES}[0].path",
        "hazard",
    ),
    "hazard-home-work": (
        "H5",
        {DOTFILES: [{"path": "/home/work", "perm": "644", "data": ""}]},
        f"{DOTFILES}[0].path",
        "hazard",
    ),
    "hazard-empty-path": (
        "H5",
        {DOTFILES: [{"path": "", "perm": "644", "data": ""}]},
        f"{DOTFILES}[0].path",
        "hazard",
    ),
    "hazard-perm": (
        "invalid perm",
        {DOTFILES: [{"path": "x", "perm": "rwxr--r--", "data": ""}]},
        f"{DOTFILES}[0].perm",
        "hazard",
    ),
    "hazard-non-ascii-key": (
        "§12.4 UnicodeEncodeError",
        {
            "kernel_config.internal_data.ssh_keypair": {
                "public_key": "ключ",
                "private_key": "k",
            }
        },
        "kernel_config.internal_data.ssh_keypair.public_key",
        "hazard",
    ),
    "hazard-nul-path": (
        "NUL byte",
        {DOTFILES: [{"path": "a\u0000b", "perm": "644", "data": ""}]},
        f"{DOTFILES}[0].path",
        "hazard",
    ),
    "hazard-environ-newline": (
        "H21",
        {"environ": {"A": "1\nB=2"}},
        "environ.A",
        "hazard",
    ),
    "hazard-hostfile-size": (
        "H7",
        {"local_config.container.scratch_type": "hostfile"},
        "local_config.container.scratch_size",
        "hazard",
    ),
}
