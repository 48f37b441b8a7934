"""The benchmark kernels, as context documents placed at a given scratch root.

* ``sample``: kplan's built-in sample (``kplan/samples/kernel.json``);
* ``everything``: the sample with a GPU-like device (its docker args, mounts,
  files, hooks, gids, syscalls, attached devices, networks), three vfolders, a
  cluster keypair and its port mapping, docker credentials and a bootstrap script;
* ``nested-dotfiles``: the sample with 40 dotfiles up to five directories deep,
  each with legacy's chmod walk up to ``work`` (§12.5 H3);
* ``large-dotfiles``: the sample with five 500 KB dotfiles, where writing content
  is most of the work (legacy's ``kconfig.dat`` pickle holds them too: 5 MB in all);
* ``minimal``: the sample without dotfiles, vfolders, key pairs, bootstrap script,
  preopened ports, environ or extra groups: the least a kernel is, where each
  side's fixed cost weighs most.

``document(name, root)`` gives the completed document (``restarting=True``: of
its restart, over what the root holds) (facts gathered from this
host, the runner package the legacy venv's, so both sides copy the same files);
``dotfiles_document(count, depth, root)`` the scaling ones.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

from kplan._completion import complete_document
from kplan._load import load_document
from kplan._runner_location import SAMPLE_KERNEL
from legacy import legacy_runner_dir

__all__ = ["KERNELS", "document", "dotfiles_document"]

KERNELS = ("sample", "everything", "nested-dotfiles", "large-dotfiles", "minimal")
LARGE_DOTFILE = 500_000  # bytes in each of large-dotfiles' five


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


GPU: dict[str, Any] = {
    "slot_types": {"cuda.device": "count", "cuda.mem": "bytes"},
    "docker_args": {
        "HostConfig": {
            "DeviceRequests": [{"Driver": "nvidia", "DeviceIDs": ["0", "1"]}],
            "CapAdd": ["SYS_ADMIN"],
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
    "hooks": ["/opt/hooks/libcudahook.so"],
    "additional_gids": [44, 109],
    "allowed_syscalls": ["io_uring_setup", "io_uring_enter"],
    "attached_devices": [
        {"device_id": "0", "model_name": "A100", "data": {"mem": 40 * 2**30}},
        {"device_id": "1", "model_name": "A100", "data": {"mem": 40 * 2**30}},
    ],
    "resource_data": {"CUDA_GLOBAL_DEVICE_IDS": "0,1"},
    "networks": [],
}


def _vfolder(name: str, perm: str) -> dict[str, Any]:
    return {
        "name": name,
        "vfid": f"00000000-0000-4000-8000-{sum(map(ord, name)):012d}",
        "vfsubpath": ".",
        "host_path": f"/srv/vfroot/bench/{name}",
        "kernel_path": f"/home/work/{name}",
        "mount_perm": perm,
        "usage_mode": "general",
    }


def _sample() -> dict[str, Any]:
    loaded = load_document(SAMPLE_KERNEL).unwrap()
    return copy.deepcopy(dict(loaded))


def _everything(doc: dict[str, Any]) -> None:
    config = doc["kernel_config"]
    config["resource_slots"] = {"cpu": "2", "mem": "4294967296", "cuda.device": "2"}
    config["mounts"] = [_vfolder(n, p) for n, p in (("data", "rw"), ("ref", "ro"))]
    config["mounts"].append(_vfolder("scratch", "rw"))
    config["internal_data"]["dotfiles"].append(
        {"path": ".config/tool/settings.toml", "perm": "644", "data": "x = 1"}
    )
    doc["cluster_info"]["ssh_keypair"] = {
        "public_key": "ssh-rsa AAAABENCHCLUSTER c\n",
        "private_key": "BENCH-CLUSTER-PRIVATE\n",
    }
    doc["cluster_info"]["cluster_ssh_port_mapping"] = {"main1": ["10.1.1.1", 2200]}
    doc["resource_spec"]["allocations"] = {
        "cuda": {"cuda.device": {"0": "1", "1": "1"}},
        "cpu": {"cpu": {"0": "1", "1": "1"}},
        "mem": {"mem": {"root": "4294967296"}},
    }
    doc["facts"] = {"devices": {"cuda": GPU}}


def nested_dotfiles(count: int, depth: int) -> list[dict[str, str]]:
    """``count`` dotfiles below ``.cfg``, ``depth`` components deep."""
    files = []
    for index in range(count):
        middle = [f"d{index % 7}", *(f"p{level}" for level in range(depth - 2))]
        parts = [".cfg", *middle[: max(depth - 1, 0)], f"f{index}.rc"]
        files.append({"path": "/".join(parts), "perm": "640", "data": f"x={index}"})
    return files


def _minimal(doc: dict[str, Any]) -> None:
    config = doc["kernel_config"]
    config.update(
        internal_data={},
        mounts=[],
        bootstrap_script=None,
        preopen_ports=[],
        environ={},
        supplementary_gids=[],
    )
    doc["cluster_info"]["ssh_keypair"] = None


def _nested(doc: dict[str, Any]) -> None:
    doc["kernel_config"]["internal_data"]["dotfiles"] = [
        {
            "path": "/".join(
                [
                    ".config",
                    f"app{index % 5}",
                    *(f"s{level}" for level in range(index % 4)),
                    f"rc{index}",
                ]
            ),
            "perm": "640" if index % 2 else "600",
            "data": f"setting={index}\n",
        }
        for index in range(40)
    ]


def _placed(doc: dict[str, Any], root: Path) -> dict[str, Any]:
    doc.pop("comment", None)
    doc["local_config"]["container"]["scratch-root"] = str(root)
    return complete_document(doc, runner=legacy_runner_dir()).unwrap()


def document(name: str, root: Path, *, restarting: bool = False) -> dict[str, Any]:
    """The completed document of benchmark kernel ``name`` at scratch root ``root``
    (``restarting``: its restart, with the facts of what ``root`` holds now)."""
    doc = _sample()
    doc["restarting"] = restarting
    if name == "everything":
        _everything(doc)
    elif name == "nested-dotfiles":
        _nested(doc)
    elif name == "large-dotfiles":
        doc["kernel_config"]["internal_data"]["dotfiles"] = [
            {"path": f".large{index}.rc", "perm": "644", "data": "x" * LARGE_DOTFILE}
            for index in range(5)
        ]
    elif name == "minimal":
        _minimal(doc)
    elif name != "sample":
        msg = f"unknown benchmark kernel {name!r}"
        raise ValueError(msg)
    return _placed(doc, root)


def dotfiles_document(count: int, depth: int, root: Path) -> dict[str, Any]:
    """The sample with ``count`` dotfiles ``depth`` components deep (scaling)."""
    doc = _sample()
    doc["kernel_config"]["internal_data"]["dotfiles"] = nested_dotfiles(count, depth)
    return _placed(doc, root)
