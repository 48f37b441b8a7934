"""The golden cases: hand-picked contexts, one per documented branch.

Each case is a change to ``tests.contexts.document()`` (dotted paths, ``__``
standing for a ``.`` inside a key). ``regen.py`` runs the real legacy
``create_kernel`` on each, on this machine's probes and the legacy venv's runner
listing, and pins the document as legacy ran it and everything legacy left in
``cases/<name>.json``; ``test_golden.py`` checks kplan's plan against them. A
case whose plan predicts a legacy exception pins the exception legacy raised.
``HAZARDS`` are refused by kplan and never sent to legacy.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

__all__ = ["CASES", "HAZARDS", "RERUN"]

SAMPLE_RUNNER = Path(__file__).parents[2] / "kplan" / "samples" / "runner"
DOTFILES = "kernel_config.internal_data.dotfiles"
LABELS = "kernel_config.image.labels"
FEATURES = f"{LABELS}.ai__backend__features"
KEYPAIR = {
    "public_key": "ssh-ed25519 AAAAGOLDEN user\n",
    "private_key": "GOLDEN-PRIVATE\n",
}
CLUSTER = {"public_key": "ssh-rsa AAAACLUSTER c\n", "private_key": "CLUSTER-PRIVATE\n"}
NO_UID_MATCH = {FEATURES: "batch"}
EVERYTHING: dict[str, Any] = {
    "kernel_config.bootstrap_script": "#!/bin/sh\necho golden",
    "kernel_config.internal_data.docker_credentials": {"cr.io": {"password": "p"}},
    "kernel_config.internal_data.ssh_keypair": KEYPAIR,
    "cluster_info.ssh_keypair": CLUSTER,
    "cluster_info.cluster_ssh_port_mapping": {"main1": ["10.1.1.1", 2200]},
    DOTFILES: [{"path": ".config/tool/rc", "perm": "640", "data": "a=1"}],
}
TORCH_IMAGE = "cr.backend.ai/stable/torch:2.1-ubuntu22.04"
DIGEST = "sha256:" + "a" * 64
STALE = "sha256:" + "b" * 64


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


SECCOMP = _b64((SAMPLE_RUNNER / "default-seccomp.json").read_bytes())


def vfolder(
    name: str, host: str, kernel: str, perm: str = "rw", usage: str = "general"
) -> dict[str, Any]:
    """One ``kernel_config.mounts`` item, as ``VFolderMount.to_json`` gives it."""
    return {
        "name": name,
        "vfid": f"00000000-0000-4000-8000-{sum(map(ord, name)):012d}",
        "vfsubpath": ".",
        "host_path": host,
        "kernel_path": kernel,
        "mount_perm": perm,
        "usage_mode": usage,
    }


# A GPU-like compute plugin's answers (facts.devices, docs/context.md).
GPU: dict[str, Any] = {
    "slot_types": {"cuda.device": "count", "cuda.mem": "bytes"},
    "docker_args": {
        "HostConfig": {
            "DeviceRequests": [{"Driver": "nvidia", "DeviceIDs": ["0", "1"]}],
            "CapAdd": ["SYS_ADMIN"],
            "Devices": [
                {
                    "PathOnHost": "/dev/nvidiactl",
                    "PathInContainer": "/dev/nvidiactl",
                    "CgroupPermissions": "rwm",
                }
            ],
        },
        "Env": ["CUDA_VISIBLE_DEVICES=0,1", "NVIDIA_DRIVER_CAPABILITIES=compute"],
    },
    "mounts": [
        {"mode": "bind", "source": "/usr/lib/libcuda.so.1", "target": "/usr/lib/c.so"},
        {"mode": "volume", "source": "nvidia-driver", "target": "/usr/local/nvidia"},
    ],
    "files": {
        "nvidia.conf": {"content_base64": _b64(b"gpu=0,1\n")},
        "secret.key": {"content_base64": _b64(b"k"), "mode": "0o600"},
    },
    "hooks": ["/opt/hooks/libcudahook.so", "/opt/hooks/libcudart-hook.so"],
    "additional_gids": [44, 109],
    "allowed_syscalls": ["io_uring_setup", "io_uring_enter"],
    "attached_devices": [
        {"device_id": "0", "model_name": "A100", "data": {"mem": 40 * 2**30}},
        {"device_id": "1", "model_name": "A100", "data": {"mem": 1234567890}},
    ],
    "resource_data": {"CUDA_GLOBAL_DEVICE_IDS": "0,1"},
    "networks": ["gpu-net", "ib-net"],
}
GPU_SLOTS = {"cpu": "2", "mem": "2147483648", "cuda.device": "2"}
GPU_ALLOCATIONS = {
    "cuda": {"cuda.device": {"0": "1", "1": "1"}},
    "cpu": {"cpu": {"0": "1", "1": "1"}},
    "mem": {"mem": {"root": "2147483648"}},
}
WITH_GPU: dict[str, Any] = {
    "facts.devices": {"cuda": GPU},
    "kernel_config.resource_slots": GPU_SLOTS,
    "resource_spec.allocations": GPU_ALLOCATIONS,
}
# A second accelerator with a unified slot and one hook shared with the GPU's.
NPU: dict[str, Any] = {
    "slot_types": {"tpu.device": "count", "tpu.unified": "unified"},
    "docker_args": {"HostConfig": {"CapAdd": ["SYS_RAWIO"]}, "Env": ["TPU=1"]},
    "hooks": ["/opt/hooks/libcudahook.so", "/opt/npu/libnpuhook.so"],
    "additional_gids": [109, 3000],
    "allowed_syscalls": ["perf_event_open"],
    "attached_devices": [
        {"device_id": "n0", "model_name": "NPU-9", "data": {"mem": 2**30}}
    ],
    "resource_data": {"TPU_IDS": "n0"},
    "networks": ["gpu-net"],
}
SERVICE_LABEL = "jupyter:http:8090,vscode:http:8180,tensorboard:http:6006"
PULL = {
    "kernel_config.image.digest": DIGEST,
    "facts.image_present": True,
    "facts.image_id": DIGEST,
    "local_config.api.pull_timeout": 600,
}
PROXIES = {
    "kernel_config.internal_data.domain_socket_proxies": [
        "/run/docker.sock",
        "/var/run/storage/agent.sock",
    ],
    "facts.socket_proxy_tokens": [
        "0123456789abcdef01234567",
        "fedcba9876543210fedcba98",
    ],
    "local_config.agent.ipc_base_path": "/run/backend.ai/ipc",
}
VFOLDERS = [
    vfolder("data", "/srv/vfroot/u1/data", "/home/work/data", "rw"),
    vfolder("ref", "/srv/vfroot/u1/ref", "/home/work/ref", "ro"),
    vfolder("scratch", "/srv/vfroot/u1/tmp/", "/data/scratch/", "wd"),
    vfolder(".logs", "/srv/vfroot/u1/.logs", "/home/work/.logs", "rw"),
]

# name -> (what it covers, changes)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    # --- ownership, scratch, ssh, dotfiles (§1.3, §4, §8, §12) --------------------
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
        "§1.3 row 3: kernel_uid:ogid; the kernel gid joins ADDITIONAL_GIDS (§2.1)",
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
        "§4.1 memory: tmpfs on the tmp dir only (H6); /tmp mounted (§5 row 3)",
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
    "ssh-mount": (
        (
            "§12.4 H20: a vfolder at /home/work/.ssh gets no keys; a wd vfolder is "
            "mounted read-write (§11)"
        ),
        {
            **EVERYTHING,
            "kernel_config.mounts": [
                vfolder("keys", "/srv/keys", "/home/work/.ssh", "rw"),
                vfolder("x", "/srv/vfroot/x", "/opt/x", "wd"),
            ],
        },
    ),
    "no-dropbear": (
        (
            "§8 H8, §9.2: without dropbearmulti prepare_ssh makes no keys, then "
            "mount_krunner raises FileNotFoundError"
        ),
        {**EVERYTHING, "facts.runner.has_dropbear": False},
    ),
    "dotfile-perm-spellings": (
        "§16 H37: every spelling int(perm, 8) reads is that mode",
        {
            DOTFILES: [
                {"path": "a/one", "perm": "0o640", "data": "x"},
                {"path": "two", "perm": " 600", "data": "x"},
                {"path": "three", "perm": "+6_44", "data": "x"},
                {"path": "four", "perm": "0O755\n", "data": "x"},
            ]
        },
    ),
    "dotfile-perm-unreadable": (
        "§16 H37: text int(perm, 8) refuses raises ValueError after the write",
        {DOTFILES: [{"path": "x", "perm": "rwxr--r--", "data": ""}]},
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
        (
            "§12.1, §12.2: environ order, a device's Env, shares (bytes with two "
            "decimals, H21), a unified slot, plugin data"
        ),
        {
            "kernel_config.environ": {
                "Z_LAST": "1",
                "A_FIRST": "x=y",
                "ADDITIONAL_GIDS": "12,7",
            },
            "kernel_config.supplementary_gids": [7, 8],
            "kernel_config.resource_slots": {
                "cpu": "2",
                "mem": "1234567",
                "cuda.shares": "0.5",
            },
            "resource_spec.allocations": {
                "cuda": {"cuda.shares": {"0": "0.5"}},
                "cpu": {"cpu": {"0": "1", "3": "1"}},
                "mem": {"mem": {"root": "1234567"}},
            },
            "facts.devices": {
                "cuda": {
                    "slot_types": {"cuda.shares": "count", "cuda.unified": "unified"},
                    "docker_args": {"Env": ["ACC=1"]},
                    "resource_data": {"CUDA_GLOBAL_DEVICE_IDS": "0"},
                }
            },
        },
    ),
    "network": (
        "§7: bridge network and an alternative bridge (H24)",
        {
            "cluster_info.network_config": {
                "mode": "bridge",
                "network_name": "bai-golden",
            },
            "local_config.container.alternative_bridge": "br-alt",
        },
    ),
    # --- the image (§2 A3, A5, A6) ----------------------------------------------
    "image-digest-current": (
        "A6 auto_pull digest: the image is there with the expected id, no pull",
        PULL,
    ),
    "image-pull-digest-stale": (
        "A6 auto_pull digest: another id is pulled, bounded by api.pull_timeout",
        {**PULL, "facts.image_id": STALE},
    ),
    "image-tag-stale-kept": (
        "A6 auto_pull tag: an image with another id is kept",
        {**PULL, "kernel_config.auto_pull": "tag", "facts.image_id": STALE},
    ),
    "image-pull-tag-missing": (
        "A6 auto_pull tag: a missing image is pulled",
        {**PULL, "kernel_config.auto_pull": "tag", "facts.image_present": False},
    ),
    "image-none-missing": (
        "A6 auto_pull none: a missing image raises ImageNotAvailable",
        {**PULL, "kernel_config.auto_pull": "none", "facts.image_present": False},
    ),
    "image-local-missing": (
        (
            "A6, §14.2: a local image is never checked nor pulled; the body names it "
            "by its short name"
        ),
        {
            **PULL,
            "kernel_config.image.is_local": True,
            "facts.image_present": False,
        },
    ),
    "image-arch-mismatch": (
        (
            "A5: an aarch64 image on an x86_64 agent raises "
            "ImageArchitectureMismatchError"
        ),
        {"kernel_config.image.architecture": "aarch64"},
    ),
    "image-distro-from-facts": (
        (
            "A3: no base-distro label: the agent's cache answers the distro, which "
            "picks the runner's libbaihook (§9.2)"
        ),
        {
            LABELS: {"ai.backend.features": "uid-match"},
            "facts.image_distro": "ubuntu20.04",
        },
    ),
    # --- the resource spec and allocation (§3, §6, §12.2) -----------------------
    "resources-gpu": (
        (
            "§3, §9.3, §2.1 row 10: a GPU-like device: slots (a bytes slot zero-"
            "filled), shares, its docker args, files under config/cuda, mounts, "
            "hooks, GPU_* variables, networks"
        ),
        WITH_GPU,
    ),
    "resources-allocation-order": (
        "§6: allocations follow resource.allocation_order, not the order given",
        {
            **WITH_GPU,
            "local_config.resource.allocation_order": ["cpu", "mem", "cuda"],
        },
    ),
    "resources-unrequested-device": (
        (
            "§3, §6, H25: a loaded device the kernel requests nothing of: its slots "
            "zero-filled, an empty allocation, its groups, syscalls and data applied, "
            "GPU_COUNT from it; an unknown zero slot dropped"
        ),
        {
            "facts.devices": {"cuda": {**GPU, "attached_devices": []}},
            "kernel_config.resource_slots": {
                "cpu": "1",
                "mem": "1073741824",
                "foo.bar": "0",
            },
        },
    ),
    "resources-two-devices": (
        (
            "§9.3, §2.1 rows 7-10: two accelerators: hooks deduplicated across "
            "devices, a unified slot, GPU variables from the first (H25), groups and "
            "syscalls of both"
        ),
        {
            **WITH_GPU,
            "facts.devices": {"cuda": GPU, "tpu": NPU},
            "kernel_config.resource_slots": {**GPU_SLOTS, "tpu.device": "1"},
            "resource_spec.allocations": {
                "cuda": GPU_ALLOCATIONS["cuda"],
                "tpu": {"tpu.device": {"n0": "1"}},
                "cpu": GPU_ALLOCATIONS["cpu"],
                "mem": GPU_ALLOCATIONS["mem"],
            },
        },
    ),
    # --- the environ (§2.1) -----------------------------------------------------
    "environ-gids": (
        (
            "§2.1 rows 3, 5, 8: supplementary gids, the kernel gid for an overriding "
            "gid with uid-match, a given ADDITIONAL_GIDS and a device's, as a set"
        ),
        {
            **WITH_GPU,
            "kernel_config.main_gid": 2002,
            "kernel_config.supplementary_gids": [3001, 3002, 44],
            "kernel_config.environ": {"ADDITIONAL_GIDS": "12,7", "LANG": "C.UTF-8"},
        },
    ),
    "environ-corecount": (
        (
            "§2.1 row 9: the corecount label's names get the cpu count, a given one "
            "is kept; no GPU: GPU_COUNT=N_GPUS=0"
        ),
        {
            f"{LABELS}.ai__backend__envs__corecount": "OMP_NUM_THREADS,NPROC,MKL_X",
            "kernel_config.environ": {"NPROC": "8"},
            "kernel_config.resource_slots": {"cpu": "3", "mem": "1073741824"},
            "resource_spec.allocations": {
                "cpu": {"cpu": {"0": "1", "2": "1", "5": "1"}},
                "mem": {"mem": {"root": "1073741824"}},
            },
        },
    ),
    "inference": (
        (
            "B12: an inference session's model definition: BACKEND_MODEL_NAME (first),"
            " BACKEND_MODEL_PATH (last), the model's service port"
        ),
        {
            "kernel_config.session_type": "inference",
            "kernel_config.mounts": [
                vfolder("models", "/srv/vfroot/u1/models", "/models", "ro", "model")
            ],
            "kernel_config.internal_data.model_definition": {
                "models": [
                    {
                        "name": "llm",
                        "model_path": "/models/llm",
                        "service": {"port": 8000, "start_command": ["serve"]},
                    },
                    {"name": "tok", "model_path": "/models/tok"},
                ]
            },
            "kernel_config.environ": {"BACKEND_MODEL_NAME": "given"},
        },
    ),
    "inference-without-model-folder": (
        (
            "B12: an inference session without a model vfolder raises "
            "ModelFolderNotSpecifiedError"
        ),
        {
            "kernel_config.session_type": "inference",
            "kernel_config.internal_data.model_definition": {
                "models": [{"name": "m", "model_path": "/models/m"}]
            },
        },
    ),
    # --- intrinsic and vfolder mounts (§5, §9.1) --------------------------------
    "intrinsic-proxies": (
        (
            "§5 row 11: domain-socket proxies named by the facts' tokens under "
            "agent.ipc_base_path; the agent socket there too (row 10)"
        ),
        PROXIES,
    ),
    "intrinsic-samples-volume": (
        (
            "§5 row 8: the deeplearning-samples volume for a torch image (the image "
            "name also names the container, §14.5)"
        ),
        {
            "kernel_config.image.canonical": TORCH_IMAGE,
            "facts.docker_volumes": ["other", "deeplearning-samples"],
        },
    ),
    "vfolders": (
        "§9.1, §2.1 row 6: vfolders ro/rw/wd in order, BACKENDAI_PERSISTENT_PATHS",
        {"kernel_config.mounts": VFOLDERS},
    ),
    "vfolders-prevented": (
        (
            "§9.1 H30: prevent_vfolder_mounts keeps only .logs; the persistent paths "
            "still name every vfolder"
        ),
        {
            "kernel_config.mounts": VFOLDERS,
            "kernel_config.internal_data.prevent_vfolder_mounts": True,
        },
    ),
    # --- the kernel runner's mounts (§9.2) ---------------------------------------
    "krunner-distro-fallback-jail": (
        (
            "§9.2, §13: ubuntu24.04 takes the newest older libbaihook and jail "
            "(ubuntu22.04); jail's args stripped, its seccomp options (§14.4 step 3)"
        ),
        {
            LABELS: {"ai.backend.base-distro": "ubuntu24.04"},
            "local_config.container.sandbox_type": "jail",
            "local_config.container.jail_args": [" --mount ", "/x:/y "],
            "facts.seccomp_profile_base64": SECCOMP,
        },
    ),
    "krunner-oldest-of-prefix": (
        "§9.2: centos7.0 is older than every centos build: the oldest (centos7.6)",
        {LABELS: {"ai.backend.base-distro": "centos7.0"}},
    ),
    "krunner-alpine": (
        (
            "§9.2: alpine (musl): the alpine libbaihook, the terminfo mount, a "
            "per-distro krunner volume without a package: python 3.6"
        ),
        {
            LABELS: {"ai.backend.base-distro": "alpine3.8"},
            "local_config.container.krunner_volumes": {
                "static-gnu": "backendai-krunner.static-gnu",
                "alpine_3.8": "backendai-krunner.alpine3.8",
            },
        },
    ),
    "krunner-missing-package": (
        "§9.2 H27: the static-musl krunner has no package here: ModuleNotFoundError",
        {
            LABELS: {"ai.backend.base-distro": "alpine3.17"},
            "local_config.container.krunner_volumes": {
                "static-musl": "backendai-krunner.static-musl"
            },
        },
    ),
    # --- service ports and host ports (B11, §14.1) ------------------------------
    "service-ports-main": (
        (
            "B11: sshd, ttyd, preopen ports, the label's services, allocated host "
            "ports (internal, still bound to pool ports); the label gains the preopen "
            "ports (§14.4 step 5)"
        ),
        {
            f"{LABELS}.ai__backend__service-ports": SERVICE_LABEL,
            f"{LABELS}.ai__backend__endpoint-ports": "jupyter",
            "kernel_config.preopen_ports": [8888, 9000],
            "kernel_config.allocated_host_ports": [31001, 31002],
        },
    ),
    "service-ports-sub": (
        (
            "B11: a sub kernel gets only sshd and ttyd; its label still lists the "
            "preopen ports"
        ),
        {
            f"{LABELS}.ai__backend__service-ports": SERVICE_LABEL,
            "kernel_config.preopen_ports": [8888],
            "kernel_config.cluster_role": "sub",
            "kernel_config.cluster_idx": 2,
            "kernel_config.cluster_hostname": "sub2",
        },
    ),
    "service-ports-duplicate-name": (
        "B11: of two label services with one name the last wins",
        {f"{LABELS}.ai__backend__service-ports": "app:http:8080,app:tcp:8081"},
    ),
    "service-ports-multi-port": (
        (
            "H13: a label service with two ports misaligns the port lists: "
            "start_container's InvalidArgumentError, raised as "
            "ContainerCreationFailedError (§2 B17)"
        ),
        {f"{LABELS}.ai__backend__service-ports": "app:http:[8080,8081]"},
    ),
    "preopen-conflict": (
        "B11: preopen 2200 raises PortConflictError after the mounts were planned",
        {"kernel_config.preopen_ports": [2200]},
    ),
    "preopen-reserved": (
        "B11: preopen 2001 raises ReservedPortError",
        {"kernel_config.preopen_ports": [2001]},
    ),
    "host-ports": (
        (
            "§14.1: the pool's oldest free ports first, sshd from the cluster's port "
            "mapping, bind_host, a storage agent's ttyd on 127.0.0.1, advertised_host"
        ),
        {
            "facts.host_ports": [40010, 40003, 40007, 40001, 40002],
            "local_config.container.bind_host": "0.0.0.0",  # noqa: S104
            "local_config.container.advertised_host": "10.0.0.5",
            "local_config.agent.scaling_group_type": "storage",
            "cluster_info.ssh_keypair": CLUSTER,
            "cluster_info.cluster_ssh_port_mapping": {
                "main1": ["10.0.0.1", 2222],
                "sub1": ["10.0.0.2", 2223],
            },
        },
    ),
    "host-ports-exhausted": (
        (
            "§14.1: fewer free ports than services + 2: start_container's "
            "PortPoolExhaustedError, raised as ContainerCreationFailedError (§2 B17)"
        ),
        {"facts.host_ports": [40001, 40002, 40003]},
    ),
    # --- the create body (§14) ---------------------------------------------------
    "create-body": (
        (
            "§14.2-14.5: ulimits capped by the agent's, shmem, seccomp with the "
            "devices' syscalls, sudo, networks, labels, kernelspec, runtime, --debug, "
            "the log config, container opts merged last"
        ),
        {
            **WITH_GPU,
            f"{LABELS}.ai__backend__kernelspec": "2",
            f"{LABELS}.ai__backend__runtime-type": "python",
            f"{LABELS}.ai__backend__runtime-path": "/usr/bin/python3",
            "kernel_config.owner_user_id": "f38dea23-50fa-42a0-b5ae-338f5f4693f4",
            "kernel_config.owner_project_id": "0d3c1c4e-6a55-4b1b-9d7e-0123456789ab",
            "kernel_config.network_id": "net-golden",
            "kernel_config.resource_opts": {"shmem": 67108864},
            "kernel_config.internal_data.sudo_session_enabled": True,
            "kernel_config.internal_data.block_service_ports": True,
            "local_config.debug.kernel_runner": True,
            "local_config.container_logs": {"driver": "json-file", "max_length": "20m"},
            "facts.seccomp_profile_base64": SECCOMP,
            "facts.rlimits": {"nofile": [4096, 8192], "memlock": [65536, -1]},
            "facts.container_opts": [
                {"HostConfig": {"CapAdd": ["NET_ADMIN"], "Memory": 3 * 2**30}},
                {"Labels": {"site": "golden"}, "HostConfig": {"Sysctls": {"a": "1"}}},
            ],
        },
    ),
    "shmem-without-limits": (
        (
            "H15: resource_opts.shmem with nothing allocated (no HostConfig from the "
            "devices): start_container's KeyError, raised as "
            "ContainerCreationFailedError"
        ),
        {
            "kernel_config.resource_slots": {"cpu": "0", "mem": "0"},
            "kernel_config.resource_opts": {"shmem": 67108864},
            "resource_spec.allocations": {"cpu": {"cpu": {}}, "mem": {"mem": {}}},
        },
    ),
    "no-cpu-allocation": (
        (
            "§2 B7: create_kernel counts the cpu allocation's cores even without a "
            "corecount label: an allocation without the cpu slot raises KeyError"
        ),
        {
            "kernel_config.resource_slots": {"cpu": "0", "mem": "0"},
            "resource_spec.allocations": {},
        },
    ),
    # --- restarts (§15) ----------------------------------------------------------
    "restart": (
        "§15: a restart after a first run on the same inputs",
        {**EVERYTHING, "restarting": True, "kernel_config.uid": 2001},
    ),
    "restart-ssh-mount": (
        "§15 + §12.4: a restart with a vfolder at /home/work/.ssh",
        {
            **EVERYTHING,
            "restarting": True,
            "kernel_config.mounts": [
                vfolder("keys", "/srv/keys", "/home/work/.ssh", "ro")
            ],
        },
    ),
    "restart-gpu": (
        (
            "§15 H11: a restarted GPU kernel loses its cpu, mem and device args and "
            "ShmSize, keeps LD_PRELOAD from kconfig.dat, gets new host ports"
        ),
        {
            **WITH_GPU,
            "restarting": True,
            "kernel_config.resource_opts": {"shmem": 67108864},
            "kernel_config.preopen_ports": [8888],
            "facts.seccomp_profile_base64": SECCOMP,
        },
    ),
    "restart-proxies-vfolders": (
        (
            "§15 H11: a restart mounts the vfolders and stale proxy sockets from "
            "resource.txt; persistent paths again"
        ),
        {**PROXIES, "restarting": True, "kernel_config.mounts": VFOLDERS[:2]},
    ),
    "restart-update": (
        (
            "§15: restart_kernel merges updating_kernel_config over kconfig.dat (a new "
            "environ replaces the stored one, LD_PRELOAD with it)"
        ),
        {
            "restarting": True,
            "kernel_config.environ": {"OLD": "1"},
            "updating_kernel_config": {
                "environ": {"NEW": "2"},
                "idle_timeout": 600,
                "preopen_ports": [9000],
            },
        },
    ),
    "restart-memory": (
        "§15, §4.1: a restart on a memory scratch (the tmpfs mounts are not redone)",
        {
            **EVERYTHING,
            "restarting": True,
            "local_config.container.scratch_type": "memory",
        },
    ),
}

# Cases the legacy-marked test runs again through the real worker.
RERUN = (
    "own-none-uid-match",
    "resources-unrequested-device",
    "restart-gpu",
    "image-arch-mismatch",
)

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
        "§16 H37: a perm that is no mode",
        {DOTFILES: [{"path": "x", "perm": "-1", "data": ""}]},
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
        {"kernel_config.environ": {"A": "1\nB=2"}},
        "kernel_config.environ.A",
        "hazard",
    ),
    "hazard-device-env-newline": (
        "H21: a device's Env item is written to environ.txt",
        {"facts.devices": {"cuda": {**GPU, "docker_args": {"Env": ["A=1\nB=2"]}}}},
        "facts.devices.cuda.docker_args.Env[0]",
        "hazard",
    ),
    "hazard-resource-data-newline": (
        "H21: a device's resource data line",
        {"facts.devices": {"cuda": {**GPU, "resource_data": {"IDS": "0\nCPU_X=1"}}}},
        "facts.devices.cuda.resource_data.IDS",
        "hazard",
    ),
    "hazard-vfolder-nul": (
        "a NUL byte in a vfolder's host path",
        {"kernel_config.mounts": [vfolder("v", "/srv/a\u0000b", "/home/work/v")]},
        "kernel_config.mounts[0].host_path",
        "hazard",
    ),
    "hazard-hostfile-size": (
        "H7",
        {"local_config.container.scratch_type": "hostfile"},
        "local_config.container.scratch_size",
        "hazard",
    ),
}
