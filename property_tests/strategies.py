"""Every Hypothesis strategy of kplan, built from small named pieces.

``plans()`` draws valid plans of every effect type (for the encoding and model
properties). ``context_documents()`` draws context files across every input that
shapes the prepare_* path (§17); ``hazardous_documents()`` draws a
valid context with exactly one injected hazard (§16).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from hypothesis import strategies as st

from effects import (
    VERIFY_CHECKS,
    Chmod,
    Chown,
    ContainerConfig,
    ContainerMount,
    CreateContainer,
    Effect,
    GenerateHostKey,
    Header,
    MakeDir,
    MountScratch,
    Plan,
    PullImage,
    RegisterKernel,
    StartContainer,
    Step,
    VerifyContainer,
    WriteFile,
    blob_of,
    freeze_object,
    seal,
)

__all__ = [
    "HAZARDS",
    "context_documents",
    "effects_",
    "hazardous_documents",
    "json_objects",
    "plans",
    "relative_paths",
]

NO_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
NO_CONTROLS: tuple[Literal["Cs"], Literal["Cc"]] = ("Cs", "Cc")
SAMPLE_RUNNER = Path(__file__).parent.parent / "kplan" / "samples" / "runner"

# --- plans ------------------------------------------------------------------------

names = st.text(alphabet="abcxyz._-", min_size=1, max_size=6).filter(
    lambda name: name not in {".", ".."}
)
relative_paths = st.lists(names, min_size=1, max_size=4).map(
    lambda parts: PurePosixPath(*parts)
)
modes = st.integers(0, 0o7777)
ids = st.none() | st.integers(0, 70000)
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
texts = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=NO_SURROGATES, exclude_characters="\x00"
    ),
    min_size=1,
    max_size=12,
)


@st.composite
def effects_(draw: st.DrawFn) -> tuple[Effect, bytes | None]:  # noqa: C901, PLR0912
    """One effect, and the content it writes if it is a ``WriteFile``."""
    path = draw(relative_paths)
    kind = draw(st.sampled_from(range(13)))
    data = draw(st.binary(max_size=32)) if kind == 1 else None
    effect: Effect
    match kind:
        case 0:
            uid, gid = draw(ids), draw(ids)  # a new entry's owner, or none
            effect = MakeDir(path=path, mode=draw(modes), uid=uid, gid=gid)
        case 1:
            assert data is not None
            uid, gid = draw(ids), draw(ids)
            digest = hashlib.sha256(data).hexdigest()
            effect = WriteFile(
                path=path, blob=digest, mode=draw(modes), uid=uid, gid=gid
            )
        case 2:
            effect = Chmod(path=path, mode=draw(modes))
        case 3:
            uid, gid = draw(ids), draw(st.integers(0, 70000))
            effect = Chown(path=path, uid=uid, gid=gid)
        case 4:
            effect = GenerateHostKey(
                path=path, kind="rsa", bits=draw(st.sampled_from([1024, 2048]))
            )
        case 5:
            image = draw(st.none() | relative_paths)
            effect = MountScratch(
                kind="tmpfs" if image is None else "loopfile",
                path=path,
                size=draw(st.integers(1, 2**40)),
                image=image,
                image_mode=None if image is None else draw(modes),
            )
        case 6:
            effect = ContainerMount(
                type=draw(st.sampled_from(["bind", "volume"])),
                source=draw(texts),
                target="/" + str(path),
                read_only=draw(st.booleans()),
                options=freeze_object(draw(json_objects)),
            )
        case 7:
            effect = ContainerConfig(fragment=freeze_object(draw(json_objects)))
        case 8:
            effect = PullImage(ref=draw(texts), digest=draw(st.none() | texts))
        case 9:
            effect = CreateContainer(
                name=draw(texts), config=freeze_object(draw(json_objects))
            )
        case 10:
            effect = StartContainer(name=draw(texts))
        case 11:
            checks = draw(
                st.lists(st.sampled_from(VERIFY_CHECKS), min_size=1, unique=True)
            )
            effect = VerifyContainer(
                name=draw(texts),
                checks=tuple(checks),
                grace_ms=draw(st.integers(0, 5000)),
            )
        case _:
            effect = RegisterKernel(record=freeze_object(draw(json_objects)))
    return effect, data


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """A valid, sealed plan with steps of every kind, blobs and forward edges."""
    drawn = draw(st.lists(effects_(), max_size=12))
    header = Header(
        scratch_root=PurePosixPath("/") / draw(relative_paths),
        kernel_id=draw(texts),
        run_as_uid=draw(st.integers(0, 70000)),
        run_as_gid=draw(st.integers(0, 70000)),
    )
    steps = [
        Step(stage=draw(st.sampled_from(["scratch", "ssh", "dotfiles"])), effect=e)
        for e, _ in drawn
    ]
    blobs = [blob_of(data) for _, data in drawn if data is not None]
    count = len(steps)
    edges = (
        draw(
            st.lists(
                st.tuples(
                    st.integers(0, max(count - 1, 0)), st.integers(0, max(count - 1, 0))
                ).filter(lambda e: e[0] < e[1]),
                max_size=8,
            )
        )
        if count > 1
        else []
    )
    return seal(header, steps, blobs, edges)


# --- contexts ---------------------------------------------------------------------

UUIDS = st.uuids(version=4).map(str)
ascii_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40
)
env_keys = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)
env_values = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=NO_CONTROLS), max_size=12
)
DIR_NAMES = ["d1", "d2", ".config", ".ssh", ".local"]
FILE_NAMES = ["f1", "f2", "rc", ".bashrc", ".vimrc", "bootstrap.sh", "id_container"]
# what int(perm, 8) reads as a mode, in every spelling legacy accepts, and one it
# refuses (legacy raises after writing the file)
PERMS = [
    *("600", "644", "640", "755", "700", "750", "400", "0644", "1777"),
    *("0o644", " 644", "644\n", "+644", "6_44", "0O600", "-0", "9"),
]
DISTROS = ["ubuntu22.04", "ubuntu20.04", "ubuntu24.04", "centos8.0", "centos7.6"]
SERVICE_LABELS = [
    None,
    "",
    "jupyter:http:8090",
    "jupyter:http:8090,vscode:http:8180",
    "tensorboard:http:6006,ssh-web:tcp:8022",
]
GPU = {
    "slot_types": {"cuda.device": "count"},
    "docker_args": {
        "HostConfig": {
            "DeviceRequests": [{"Driver": "nvidia", "DeviceIDs": ["0"]}],
            "CapAdd": ["SYS_ADMIN"],
        },
        "Env": ["CUDA_VISIBLE_DEVICES=0"],
    },
    "mounts": [
        {
            "mode": "bind",
            "source": "/usr/lib/x86_64-linux-gnu/libnv.so.1",
            "target": "/usr/lib/libnv.so.1",
        }
    ],
    "files": {"nvidia.conf": {"content_base64": base64.b64encode(b"gpu=0\n").decode()}},
    "hooks": ["/opt/backend.ai/hooks/libcudahook.so"],
    "additional_gids": [44, 109],
    "allowed_syscalls": ["io_uring_setup", "io_uring_enter"],
    "attached_devices": [
        {"device_id": "0", "model_name": "GPU-Sample", "data": {"mem": 17179869184}}
    ],
    "resource_data": {"CUDA_GLOBAL_DEVICE_IDS": "0"},
    "networks": [],
}


@st.composite
def dotfile_paths(draw: st.DrawFn) -> str:
    """Relative or ``/home/work/`` paths: directories and file names never collide."""
    dirs = draw(st.lists(st.sampled_from(DIR_NAMES), max_size=2))
    relative = "/".join([*dirs, draw(st.sampled_from(FILE_NAMES))])
    return draw(st.sampled_from([relative, f"/home/work/{relative}"]))


dotfiles = st.lists(
    st.fixed_dictionaries(
        {"path": dotfile_paths(), "perm": st.sampled_from(PERMS), "data": env_values}
    ),
    max_size=4,
)
keypairs = st.fixed_dictionaries({"public_key": ascii_text, "private_key": ascii_text})


@st.composite
def vfolders(draw: st.DrawFn, *, model: bool) -> list[dict[str, Any]]:
    """``kernel_config.mounts``: vfolders at distinct kernel paths (a model one if
    ``model``), sometimes one named ``.logs`` or at /home/work/.ssh."""
    paths = draw(
        st.lists(
            st.sampled_from(["/home/work/data", "/home/work/.ssh", "/home/work/.logs"]),
            unique=True,
            max_size=2,
        )
    )
    if model:
        paths.append("/models")
    mounts = []
    for index, path in enumerate(paths):
        mounts.append(
            {
                "name": ".logs" if path.endswith(".logs") else f"vf{index}",
                "vfid": str(draw(st.uuids(version=4))),
                "vfsubpath": ".",
                "host_path": f"/srv/vfroot/{draw(st.sampled_from(['u1', 'u2']))}"
                f"/{index}",
                "kernel_path": path,
                "mount_perm": draw(st.sampled_from(["ro", "rw", "wd"])),
                "usage_mode": "model" if path == "/models" else "general",
            }
        )
    return mounts


def _runner(draw: st.DrawFn, runner: dict[str, Any]) -> dict[str, Any]:
    """The real runner package, its ten copied files drawn again with other modes."""
    files = {
        name: {
            **entry,
            "mode": draw(st.sampled_from(["0o644", "0o644", "0o600", "0o755"])),
        }
        for name, entry in runner["files"].items()
    }
    return {
        **runner,
        "files": files,
        "has_dropbear": draw(st.sampled_from([True, True, True, True, False])),
    }


def _labels(draw: st.DrawFn) -> dict[str, str]:
    labels = {"ai.backend.base-distro": draw(st.sampled_from(DISTROS))}
    features = draw(
        st.sampled_from([None, "uid-match", "batch", "uid-match batch", ""])
    )
    if features is not None:
        labels["ai.backend.features"] = features
    ports = draw(st.sampled_from(SERVICE_LABELS))
    if ports is not None:
        labels["ai.backend.service-ports"] = ports
        labels["ai.backend.endpoint-ports"] = draw(st.sampled_from(["", "jupyter"]))
    if draw(st.booleans()):
        labels["ai.backend.envs.corecount"] = draw(
            st.sampled_from(["OMP_NUM_THREADS", "OMP_NUM_THREADS,NPROC", "A_VAR"])
        )
    if draw(st.booleans()):
        labels["ai.backend.runtime-type"] = "python"
        labels["ai.backend.runtime-path"] = "/usr/bin/python3"
    return labels


@st.composite
def _clusters(draw: st.DrawFn) -> dict[str, Any]:
    """The session's shape and this kernel's place in it: the main kernel or one
    of the ``sub`` replicas of a single- or multi-node cluster, with the port
    mapping of every hostname (legacy reads only this kernel's entry)."""
    subs = draw(st.integers(0, 2))
    role = draw(st.sampled_from(["main", "main", "sub"])) if subs else "main"
    index = 1 if role == "main" else draw(st.integers(1, subs))
    hosts = ["main1", *(f"sub{n}" for n in range(1, subs + 1))]
    modes = ["single-node", "multi-node"] if subs else ["single-node"]
    return {
        "mode": draw(st.sampled_from(modes)),
        "size": 1 + subs,
        "replicas": {"main": 1, "sub": subs} if subs else {"main": 1},
        "role": role,
        "index": index,
        "hostname": f"{role}{index}",
        "rank": draw(st.integers(0, subs)),
        "mapping": {
            host: [f"10.0.0.{n + 1}", 2200 + n] for n, host in enumerate(hosts)
        },
    }


@st.composite
def context_documents(
    draw: st.DrawFn,
    host: dict[str, Any],
    runner: dict[str, Any],
    *,
    scratch_types: tuple[str, ...] = ("hostdir", "memory"),
) -> dict[str, Any]:
    """A context file (facts included) across every input ``create_kernel`` reads.

    ``host`` and ``runner`` are this machine's probes and runner package: the
    legacy worker answers those from the machine itself.
    """
    inference = draw(st.integers(0, 5)) == 0
    gpu = draw(st.booleans())
    slots = {"cpu": draw(st.sampled_from(["1", "2"])), "mem": "1073741824"}
    allocations: dict[str, Any] = {
        "cpu": {"cpu": {str(i): "1" for i in range(int(slots["cpu"]))}},
        "mem": {"mem": {"root": draw(st.sampled_from(["1073741824", "1234567"]))}},
    }
    devices: dict[str, Any] = {}
    if gpu:
        slots["cuda.device"] = "1"
        allocations = {"cuda": {"cuda.device": {"0": "1"}}, **allocations}
        devices["cuda"] = GPU
    internal: dict[str, Any] = {
        "docker_credentials": draw(
            st.none()
            | st.just({})
            | st.dictionaries(
                st.sampled_from(["cr.io", "a.io"]),
                st.fixed_dictionaries({"password": ascii_text}),
                max_size=2,
            )
        ),
        "ssh_keypair": draw(st.none() | keypairs),
        "dotfiles": draw(dotfiles),
        "prevent_vfolder_mounts": draw(st.sampled_from([None, False, True])),
        "block_service_ports": draw(st.booleans()),
        "sudo_session_enabled": draw(st.booleans()),
    }
    if inference:
        internal["model_definition"] = {
            "models": [
                {"name": "m1", "model_path": "/models/m1", "service": {"port": 8000}}
            ]
        }
    cluster = draw(_clusters())
    main, index, hostname = cluster["role"], cluster["index"], cluster["hostname"]
    kernel_id = draw(UUIDS)
    document: dict[str, Any] = {
        "kernel_id": kernel_id,
        "session_id": draw(UUIDS),
        "agent_id": draw(st.sampled_from(["i-a", "i-b"])),
        "restarting": draw(st.booleans()),
        "kernel_config": {
            "image": {
                "canonical": draw(
                    st.sampled_from(
                        [
                            "cr.backend.ai/stable/python:3.11",
                            "cr.backend.ai/stable/torch:2",
                        ]
                    )
                ),
                "architecture": "x86_64",
                "digest": "sha256:0123",
                "registry": {"name": "cr.backend.ai", "url": "https://cr.backend.ai"},
                "labels": _labels(draw),
                "is_local": draw(st.integers(0, 5)) == 0,
            },
            "owner_user_id": draw(st.none() | UUIDS),
            "session_type": "inference" if inference else "interactive",
            "cluster_mode": cluster["mode"],
            "cluster_role": main,
            "cluster_idx": index,
            "cluster_hostname": hostname,
            "local_rank": cluster["rank"],
            "uid": draw(st.none() | st.integers(1000, 3000)),
            "main_gid": draw(st.none() | st.integers(1000, 3000)),
            "supplementary_gids": draw(
                st.lists(st.integers(1000, 3000), max_size=3, unique=True)
            ),
            "bootstrap_script": draw(st.none() | env_values),
            "environ": draw(st.dictionaries(env_keys, env_values, max_size=3)),
            "resource_slots": slots,
            "resource_opts": draw(st.sampled_from([{}, {"shmem": 67108864}])),
            "mounts": draw(vfolders(model=inference)),
            "preopen_ports": draw(
                st.lists(st.sampled_from([8080, 8888, 9000]), unique=True, max_size=2)
            ),
            "allocated_host_ports": draw(
                st.lists(st.sampled_from([31001, 31002]), unique=True, max_size=1)
            ),
            "internal_data": internal,
        },
        "cluster_info": {
            "mode": cluster["mode"],
            "size": cluster["size"],
            "replicas": cluster["replicas"],
            "network_config": draw(
                st.sampled_from([{}, {"mode": "bridge", "network_name": "n1"}])
            ),
            "ssh_keypair": draw(st.none() | keypairs),
            "cluster_ssh_port_mapping": draw(
                st.none()
                | st.just({"main1": ["10.0.0.1", 2200]})
                | st.just(cluster["mapping"])
            ),
        },
        "local_config": {
            "container": {
                "scratch_root": "/scratch",
                "scratch_type": draw(st.sampled_from(scratch_types)),
                "scratch_size": "64m",
                "kernel_uid": draw(st.integers(1000, 3000)),
                "kernel_gid": draw(st.integers(1000, 3000)),
                "bind_host": draw(st.sampled_from(["", "0.0.0.0"])),  # noqa: S104
                "sandbox_type": draw(st.sampled_from(["docker", "docker", "jail"])),
                "krunner_volumes": {
                    "static-gnu": "backendai-krunner.v10.x86_64.static-gnu"
                },
            },
            "agent": {"ipc_base_path": "/run/backend.ai/ipc"},
            "debug": {"kernel_runner": draw(st.booleans())},
        },
        "resource_spec": {"allocations": allocations},
        "facts": {
            "is_root": True,
            "uid": 0,
            "gid": 0,
            "umask": draw(st.sampled_from(["0o22", "0o27", "0o2", "0o77"])),
            "arch": "x86_64",
            "runner": _runner(draw, runner),
            "krunner_python": {"static-gnu": "3.13"},
            "scratch": [],
            "contents": {},
            "host": host,
            "docker_volumes": draw(st.sampled_from([[], ["deeplearning-samples"]])),
            "image_present": True,
            "image_id": "sha256:0123",
            "devices": devices,
            "host_ports": list(range(30000, 30000 + draw(st.sampled_from([40, 100])))),
            "rlimits": draw(
                st.sampled_from(
                    [
                        {"nofile": [1048576, 1048576], "memlock": [-1, -1]},
                        {"nofile": [1024, 4096], "memlock": [65536, 65536]},
                    ]
                )
            ),
        },
    }
    return document


HAZARDS: list[tuple[str, Any]] = [
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "/etc/kplan-must-not-exist", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "/home/config/environ.txt", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "/home/other/x", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "../x", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "a/../../x", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "/home/work", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "/home/", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "a\x00b", "perm": "644", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "x", "perm": "-1", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.dotfiles",
        [{"path": "x", "perm": "17777", "data": "x"}],
    ),
    (
        "kernel_config.internal_data.ssh_keypair",
        {"public_key": "clé", "private_key": "k"},
    ),
    ("kernel_config.environ", {"BAD": "line\nbreak"}),
    ("kernel_config.environ", {"A\nB": "x"}),
    ("local_config.container.scratch_type", "hostfile"),
    ("cluster_info.network_config", {"mode": "overlay"}),
]


@st.composite
def hazardous_documents(
    draw: st.DrawFn, host: dict[str, Any], runner: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """A valid context with one hazard injected, and the field it is injected at."""
    document = copy.deepcopy(draw(context_documents(host, runner)))
    field, value = draw(st.sampled_from(HAZARDS))
    *parents, last = field.split(".")
    target = document
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    if last == "scratch_type":
        target["scratch_size"] = "0"
    return document, field
