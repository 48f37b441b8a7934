"""The legacy worker runs the real ``DockerAgent.create_kernel`` (legacy/worker).

Hand-built context documents in the new format (kernel_config and cluster_info
already normalised, as kplan's client sends them), sent through the bridge;
each test checks what the real legacy code did with them.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any, cast

import pytest

from executor import host_probes, runner_facts
from kplan._against import against_legacy
from legacy import LegacyBridge, legacy_runner_dir
from planner import Context, compile_plan, context_from_document

pytestmark = pytest.mark.legacy

KID = "11111111-2222-4333-8444-555555555555"
SID = "22222222-3333-4444-8555-666666666666"
CONFIG = f"{KID}/config"
DISTRO = "ubuntu22.04"

IMAGE: dict[str, Any] = {
    "canonical": "cr.backend.ai/stable/python:3.11",
    "project": "stable",
    "architecture": "x86_64",
    "digest": "sha256:0123",
    "repo_digest": None,
    "registry": {"name": "cr.backend.ai", "url": "https://cr.backend.ai"},
    "labels": {"ai.backend.base-distro": DISTRO},
    "is_local": False,
    "auto_pull": "digest",
}
KERNEL_CONFIG: dict[str, Any] = {
    "image": IMAGE,
    "kernel_id": KID,
    "session_id": SID,
    "owner_user_id": None,
    "owner_project_id": None,
    "network_id": "",
    "auto_pull": "digest",
    "session_type": "interactive",
    "cluster_mode": "single-node",
    "cluster_role": "main",
    "cluster_idx": 1,
    "cluster_hostname": "main1",
    "local_rank": 0,
    "uid": None,
    "main_gid": None,
    "supplementary_gids": [],
    "resource_slots": {"cpu": "2", "mem": "1073741824"},
    "resource_opts": {},
    "environ": {"USER_VAR": "v"},
    "mounts": [],
    "package_directory": [],
    "idle_timeout": 0,
    "bootstrap_script": None,
    "startup_command": None,
    "internal_data": None,
    "preopen_ports": [],
    "allocated_host_ports": [],
    "scaling_group": "default",
    "agent_addr": "",
    "endpoint_id": None,
}
CLUSTER_INFO: dict[str, Any] = {
    "mode": "single-node",
    "size": 1,
    "replicas": {},
    "network_config": {},
    "ssh_keypair": None,
    "cluster_ssh_port_mapping": None,
}
GPU: dict[str, Any] = {
    "slot_types": {"cuda.device": "count"},
    "docker_args": {
        "HostConfig": {"DeviceRequests": [{"Driver": "nvidia", "DeviceIDs": ["0"]}]},
        "Env": ["CUDA_VISIBLE_DEVICES=0"],
    },
    "mounts": [
        {"mode": "bind", "source": "/usr/lib/libcuda.so", "target": "/lib/c.so"}
    ],
    "files": {"gpu.conf": {"content_base64": base64.b64encode(b"x\n").decode()}},
    "hooks": ["/opt/hooks/libcudahook.so"],
    "additional_gids": [44],
    "allowed_syscalls": ["io_uring_setup"],
    "attached_devices": [
        {"device_id": "0", "model_name": "A100", "data": {"mem": 40 * 2**30}}
    ],
    "resource_data": {"CUDA_GLOBAL_DEVICE_IDS": "0"},
    "networks": ["gpu-net"],
}


def runner() -> dict[str, Any]:
    """The real runner package's facts, with its listing (krunner mounts)."""
    directory = legacy_runner_dir()
    assert directory is not None  # the legacy_bridge fixture built the venv
    facts = runner_facts(directory)
    facts["listing"] = sorted(p.name for p in directory.iterdir())
    return facts


def seccomp_profile() -> str:
    directory = legacy_runner_dir()
    assert directory is not None
    return base64.b64encode((directory / "default-seccomp.json").read_bytes()).decode()


def document(**changes: Any) -> dict[str, Any]:
    """A complete new-format document; ``changes`` set dotted paths (``__`` = ``.``)."""
    doc: dict[str, Any] = {
        "kernel_id": KID,
        "session_id": SID,
        "agent_id": "i-test",
        "restarting": False,
        "kernel_config": copy.deepcopy(KERNEL_CONFIG),
        "cluster_info": copy.deepcopy(CLUSTER_INFO),
        "local_config": {
            "container": {
                "scratch_root": "/scratch",
                "kernel_uid": 1100,
                "kernel_gid": 1200,
                "krunner_volumes": {"static-gnu": "backendai-krunner.static-gnu"},
            }
        },
        "resource_spec": {
            "allocations": {
                "cpu": {"cpu": {"0": "1", "1": "1"}},
                "mem": {"mem": {"root": "1073741824"}},
            }
        },
        "facts": {
            "is_root": True,
            "uid": 0,
            "gid": 0,
            "umask": "0o22",
            "runner": runner(),
            "docker_volumes": [],
            "image_present": True,
            "image_id": "sha256:0123",
            "seccomp_profile_base64": seccomp_profile(),
            "rlimits": {"nofile": [4096, 8192], "memlock": [-1, -1]},
        },
    }
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        target = doc
        for key in parents:
            target = target.setdefault(key.replace("__", "."), {})
        target[last.replace("__", ".")] = value
    return doc


def kplan_context(doc: dict[str, Any]) -> Context:
    """``doc`` as kplan reads it, with the facts the worker finds itself (the
    host's, the runner's Python) added to ``doc`` too."""
    doc["facts"] |= {"host": host_probes(), "krunner_python": {"static-gnu": "3.13"}}
    return context_from_document(copy.deepcopy(doc)).unwrap()


def run(bridge: LegacyBridge, doc: dict[str, Any]) -> dict[str, Any]:
    return cast("dict[str, Any]", bridge.run(doc))


def succeeded(bridge: LegacyBridge, doc: dict[str, Any]) -> dict[str, Any]:
    reply = run(bridge, doc)
    assert reply["refused"] is None, reply["refused"]
    assert reply["ok"] is True, reply["error"]
    return reply


def tree(reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["path"]: entry for entry in reply["tree"]}


def host_config(reply: dict[str, Any]) -> dict[str, Any]:
    return cast("dict[str, Any]", reply["create"]["config"]["HostConfig"])


def test_kconfig_and_cluster_json_hold_the_inputs(legacy_bridge: LegacyBridge) -> None:
    reply = succeeded(legacy_bridge, document())
    entries = tree(reply)
    assert entries[f"{CONFIG}/kconfig.dat"]["mode"] == "0o644"
    assert json.loads(reply["contents"][f"{CONFIG}/cluster.json"]) == CLUSTER_INFO
    expected = {**KERNEL_CONFIG, "environ": dict(reply["environ"])}
    assert reply["kconfig"] == expected
    assert reply["kconfig"]["environ"]["USER_VAR"] == "v"
    for device in ("cpu", "mem"):
        assert entries[f"{CONFIG}/{device}"]["type"] == "dir"


def test_environ_follows_create_kernel(legacy_bridge: LegacyBridge) -> None:
    doc = document(**{"kernel_config.supplementary_gids": [1000, 1001]})
    doc["kernel_config"]["image"]["labels"]["ai.backend.envs.corecount"] = "OMP_N"
    environ = dict(succeeded(legacy_bridge, doc)["environ"])
    assert environ["LD_PRELOAD"] == "/opt/kernel/libbaihook.so"
    assert set(environ["ADDITIONAL_GIDS"].split(",")) == {"1000", "1001"}
    assert (environ["LOCAL_USER_ID"], environ["LOCAL_GROUP_ID"]) == ("1100", "1200")
    assert environ["GPU_COUNT"] == environ["N_GPUS"] == "0"
    assert environ["OMP_N"] == "2"


def test_ports_come_from_the_pool_in_order(legacy_bridge: LegacyBridge) -> None:
    reply = succeeded(
        legacy_bridge, document(**{"facts.host_ports": [40010, 40003, 40007, 40001]})
    )
    bindings = host_config(reply)["PortBindings"]
    assert bindings == {
        "2000/tcp": [{"HostPort": "40010", "HostIp": "127.0.0.1"}],
        "2001/tcp": [{"HostPort": "40003", "HostIp": "127.0.0.1"}],
        "2200/tcp": [{"HostPort": "40007", "HostIp": ""}],
        "7681/tcp": [{"HostPort": "40001", "HostIp": ""}],
    }
    kernel = reply["kernel"]
    assert (kernel["repl_in_port"], kernel["repl_out_port"]) == (40010, 40003)
    assert kernel["host_ports"] == [40010, 40003, 40007, 40001]
    assert reply["service_ports"][0] == {
        "name": "sshd",
        "protocol": "tcp",
        "container_ports": [2200],
        "host_ports": [40007],
        "is_inference": False,
    }


def test_default_pool_starts_at_the_port_range(legacy_bridge: LegacyBridge) -> None:
    reply = succeeded(legacy_bridge, document())
    assert reply["kernel"]["host_ports"] == [30000, 30001, 30002, 30003]


def test_ulimits_are_capped_by_the_facts_rlimits(legacy_bridge: LegacyBridge) -> None:
    doc = document(
        **{"facts.rlimits": {"nofile": [4096, 8192], "memlock": [65536, -1]}}
    )
    assert host_config(succeeded(legacy_bridge, doc))["Ulimits"] == [
        {"Name": "nofile", "Soft": 4096, "Hard": 8192},
        {"Name": "memlock", "Soft": 65536, "Hard": -1},
    ]


def test_the_create_body_is_the_real_one(legacy_bridge: LegacyBridge) -> None:
    reply = succeeded(legacy_bridge, document())
    create = reply["create"]
    config = create["config"]
    assert create["name"] == f"kernel.python.{KID}"
    assert config["Cmd"] == reply["cmdargs"]
    assert config["Cmd"][-1] == "app"
    hc = config["HostConfig"]
    assert (hc["CpusetCpus"], hc["Memory"], hc["MemorySwap"]) == ("0,1", 2**30, 2**30)
    assert hc["LogConfig"]["Config"]["max-size"] == "2m"
    assert hc["SecurityOpt"][0].startswith("seccomp={")
    targets = [m["Target"] for m in hc["Mounts"]]
    assert targets[:2] == ["/home/config", "/home/work"]
    assert "/opt/kernel/su-exec" in targets
    assert config["Labels"]["ai.backend.kernel-id"] == KID
    resource = reply["contents"][f"{CONFIG}/resource.txt"]
    assert resource.endswith(f"CID={reply['kernel']['container_id']}\n")
    assert reply["events"] == [
        "KernelPreparingAnycastEvent",
        "KernelPreparingBroadcastEvent",
        "KernelCreatingAnycastEvent",
        "KernelCreatingBroadcastEvent",
    ]


def test_a_gpu_like_device_adds_its_answers(legacy_bridge: LegacyBridge) -> None:
    doc = document(**{"facts.devices": {"cuda": GPU}})
    doc["kernel_config"]["resource_slots"]["cuda.device"] = "1"
    doc["resource_spec"]["allocations"] = {
        "cuda": {"cuda.device": {"0": "1"}},
        **doc["resource_spec"]["allocations"],
    }
    reply = succeeded(legacy_bridge, doc)
    environ = dict(reply["environ"])
    assert environ["LD_PRELOAD"].endswith(":/opt/kernel/libcudahook.so")
    assert environ["ADDITIONAL_GIDS"] == "44"
    assert (environ["GPU_TYPE"], environ["GPU_COUNT"]) == ("cuda", "1")
    assert environ["GPU_CONFIG"] == "0:40g"
    hc = host_config(reply)
    assert hc["DeviceRequests"] == [{"Driver": "nvidia", "DeviceIDs": ["0"]}]
    assert reply["create"]["config"]["Env"][-1] == "CUDA_VISIBLE_DEVICES=0"
    profile = json.loads(hc["SecurityOpt"][0].removeprefix("seccomp="))
    assert profile["syscalls"][-1]["names"] == ["io_uring_setup"]
    sources = {m["Target"]: m["Source"] for m in hc["Mounts"]}
    assert sources["/opt/kernel/libcudahook.so"] == "/opt/hooks/libcudahook.so"
    assert sources["/lib/c.so"] == "/usr/lib/libcuda.so"
    assert {"call": "network.connect", "network": "gpu-net"}.items() <= next(
        c for c in reply["calls"] if c["call"] == "network.connect"
    ).items()
    entries = tree(reply)
    assert entries[f"{CONFIG}/cuda/gpu.conf"]["mode"] == "0o644"
    resource = reply["contents"][f"{CONFIG}/resource.txt"]
    assert "CUDA.DEVICE_SHARES=0:1\n" in resource
    assert "CUDA_GLOBAL_DEVICE_IDS=0\n" in resource


@pytest.mark.parametrize("mem", [1.5, " 12 ", "1_024", True, "1g", None, 1e300])
def test_an_attached_devices_mem_is_planned_as_binarysize_reads_it(
    legacy_bridge: LegacyBridge, mem: object
) -> None:
    """GPU_CONFIG of what ``BinarySize()`` (an ``int``) makes of the plugin's
    ``mem``, or the crash it raises ("1g", null; 1e300 has no unit to print in),
    as kplan plans it."""
    gpu = copy.deepcopy(GPU)
    gpu["attached_devices"][0]["data"]["mem"] = mem
    doc = document(**{"facts.devices": {"cuda": gpu}})
    doc["kernel_config"]["resource_slots"]["cuda.device"] = "1"
    doc["resource_spec"]["allocations"] = {
        "cuda": {"cuda.device": {"0": "1"}},
        **doc["resource_spec"]["allocations"],
    }
    ctx = kplan_context(doc)
    planned = compile_plan(ctx)
    if mem in ("1g", None, 1e300):
        (error,) = planned.failure()
        assert error.field == "facts.devices.cuda.attached_devices"
    diff, _ = against_legacy(ctx, doc, (), legacy_bridge)
    assert diff is not None
    assert diff.same, diff.differences


def test_preopen_2200_is_a_port_conflict(legacy_bridge: LegacyBridge) -> None:
    reply = run(legacy_bridge, document(**{"kernel_config.preopen_ports": [2200]}))
    assert reply["ok"] is False
    assert reply["error"]["type"] == "PortConflictError"
    assert reply["error"]["phase"] == "create"
    assert reply["create"] is None
    assert {"call": "reconstruct_resource_usage"} in reply["calls"]
    assert f"{CONFIG}/environ.txt" not in tree(reply)  # B11 is before B15
    assert f"{CONFIG}/cpu" in tree(reply)  # B5 ran


def test_restart_runs_restart_kernel_over_the_first_run(
    legacy_bridge: LegacyBridge,
) -> None:
    doc = document(restarting=True, updating_kernel_config={"idle_timeout": 600})
    reply = succeeded(legacy_bridge, doc)
    resource = reply["contents"][f"{CONFIG}/resource.txt"]
    assert resource.count("\nCID=") == 2
    first, second = reply["first_create"], reply["create"]
    first_ports = [30000, 30001, 30002, 30003]
    assert reply["released_ports"] == first_ports
    assert (
        second["config"]["HostConfig"]["PortBindings"]["2000/tcp"][0]["HostPort"]
        == "30004"
    )
    assert "Memory" in first["config"]["HostConfig"]
    assert "Memory" not in second["config"]["HostConfig"]  # H11
    assert reply["kconfig"]["idle_timeout"] == 600
    assert dict(reply["environ"])["LD_PRELOAD"] == "/opt/kernel/libbaihook.so"
    destroy = next(
        c for c in reply["calls"] if c["call"] == "inject_container_lifecycle_event"
    )
    assert (destroy["event"], destroy["reason"]) == ("DESTROY", "restarting")
    assert reply["events"].count("KernelPreparingAnycastEvent") == 1


def test_no_distro_label_and_no_fact_is_refused(legacy_bridge: LegacyBridge) -> None:
    doc = document()
    doc["kernel_config"]["image"]["labels"] = {}
    reply = run(legacy_bridge, doc)
    assert reply["ok"] is False
    assert reply["scratch_root"] is None  # nothing ran
    assert [r["field"] for r in reply["refused"]] == ["facts.image_distro"]


def test_the_distro_cache_answers_without_a_label(legacy_bridge: LegacyBridge) -> None:
    doc = document(**{"facts.image_distro": "ubuntu20.04"})
    doc["kernel_config"]["image"]["labels"] = {}
    reply = succeeded(legacy_bridge, doc)
    assert reply["calls"][0] == {
        "call": "get_image_distro",
        "image_id": "0123",
        "result": "ubuntu20.04",
    }
    sources = {m["Target"]: m["Source"] for m in host_config(reply)["Mounts"]}
    assert sources["/opt/kernel/libbaihook.so"].endswith(
        "libbaihook.ubuntu20.04.x86_64.so"
    )


def test_a_missing_or_stale_image_is_pulled(legacy_bridge: LegacyBridge) -> None:
    for facts in ({"facts.image_present": False}, {"facts.image_id": "sha256:old"}):
        reply = succeeded(legacy_bridge, document(**facts))
        pulls = [c for c in reply["calls"] if c["call"] == "pull_image"]
        assert pulls == [
            {
                "call": "pull_image",
                "image": IMAGE["canonical"],
                "registry": "cr.backend.ai",
                "timeout_seconds": 7200.0,
            }
        ]
        assert "KernelPullingAnycastEvent" in reply["events"]


def test_domain_socket_proxies_are_real_sockets(legacy_bridge: LegacyBridge) -> None:
    token = "ab" * 12
    doc = document(
        **{
            "kernel_config.internal_data": {"domain_socket_proxies": ["/run/x.sock"]},
            "facts.socket_proxy_tokens": [token],
        }
    )
    reply = succeeded(legacy_bridge, doc)
    path = f"/tmp/backend.ai/ipc/proxy/{token}.sock"  # legacy's default ipc_base_path
    assert reply["proxy_sockets"] == [{"path": path, "type": "socket", "mode": "0o666"}]
    assert reply["kernel"]["domain_socket_proxies"] == [
        {"host_sock_path": "/run/x.sock", "host_proxy_path": path}
    ]
    mounts = host_config(reply)["Mounts"]
    assert {"Target": "/run/x.sock", "Source": path}.items() <= next(
        m for m in mounts if m["Target"] == "/run/x.sock"
    ).items()
    assert not Path(path).exists()  # only in the run's namespace


def test_too_few_proxy_tokens_are_refused(legacy_bridge: LegacyBridge) -> None:
    doc = document(**{"kernel_config.internal_data": {"domain_socket_proxies": ["/a"]}})
    reply = run(legacy_bridge, doc)
    assert [r["field"] for r in reply["refused"]] == ["facts.socket_proxy_tokens"]


def test_a_seccomp_profile_not_ascii_is_refused(legacy_bridge: LegacyBridge) -> None:
    doc = document(**{"facts.seccomp_profile_base64": "\u00e9"})
    reply = run(legacy_bridge, doc)
    assert [r["field"] for r in reply["refused"]] == ["facts.seccomp_profile_base64"]


@pytest.mark.parametrize(
    "profile", [b"", b"[]", b'{"defaultAction": "SCMP_ACT_ERRNO"}', b'{"syscalls": {}}']
)
def test_a_seccomp_profile_legacy_cannot_extend_is_a_predicted_crash(
    legacy_bridge: LegacyBridge, profile: bytes
) -> None:
    """Not JSON, not an object, no syscalls, or no list of them: legacy's
    start_container raises, as kplan predicts."""
    doc = document(
        **{"facts.seccomp_profile_base64": base64.b64encode(profile).decode()}
    )
    ctx = kplan_context(doc)
    (error,) = compile_plan(ctx).failure()
    assert (error.code, error.field) == ("crash", "facts.seccomp_profile_base64")
    reply = run(legacy_bridge, doc)
    assert reply["error"]["type"] == error.raises
    diff, _ = against_legacy(ctx, doc, (), legacy_bridge)
    assert diff is not None
    assert diff.same, diff.differences


def test_container_opts_are_merged_in_order(legacy_bridge: LegacyBridge) -> None:
    """Three documents: /etc/backend.ai (namespace only), ~/.config, the cwd."""
    opts = [
        {"HostConfig": {"CapAdd": ["NET_ADMIN"], "Memory": 1}},
        {"HostConfig": {"CapAdd": ["SYS_PTRACE"], "Memory": 2}},
        {"HostConfig": {"Memory": 3}},
    ]
    doc = document(**{"facts.container_opts": opts})
    etc = Path("/etc/backend.ai")
    before = etc.exists()
    hc = host_config(succeeded(legacy_bridge, doc))
    assert hc["CapAdd"] == ["IPC_LOCK", "SYS_NICE", "NET_ADMIN", "SYS_PTRACE"]
    assert hc["Memory"] == 3
    assert etc.exists() == before  # the host's /etc is untouched


def test_the_listing_decides_the_runner_files(legacy_bridge: LegacyBridge) -> None:
    doc = document()
    doc["facts"]["runner"]["listing"].remove("su-exec.x86_64.bin")
    reply = run(legacy_bridge, doc)
    assert reply["error"]["type"] == "FileNotFoundError"
    assert reply["error"]["step"] == "mount_static_binary"


def test_dotfile_hazards_are_refused_before_running(
    legacy_bridge: LegacyBridge,
) -> None:
    dotfiles = [
        {"path": "/etc/evil", "data": "x", "perm": "644"},
        {"path": ".vimrc", "data": "set nu", "perm": "600"},
    ]
    doc = document(**{"kernel_config.internal_data": {"dotfiles": dotfiles}})
    reply = run(legacy_bridge, doc)
    assert reply["scratch_root"] is None
    (refusal,) = reply["refused"]
    assert refusal["field"] == "kernel_config.internal_data.dotfiles.0.path"
    assert refusal["hazard"].startswith("H1/H2")


def test_dotfiles_are_written_by_prepare_container(legacy_bridge: LegacyBridge) -> None:
    dotfiles = [{"path": ".vimrc", "data": "set nu", "perm": "600"}]
    doc = document(**{"kernel_config.internal_data": {"dotfiles": dotfiles}})
    reply = succeeded(legacy_bridge, doc)
    assert reply["contents"][f"{KID}/work/.vimrc"] == "set nu\n"
    assert tree(reply)[f"{KID}/work/.vimrc"]["mode"] == "0o600"


def test_a_run_past_its_timeout_is_killed(legacy_bridge: LegacyBridge) -> None:
    reply = cast("dict[str, Any]", legacy_bridge.run(document(), timeout=0.01))
    assert reply["ok"] is False
    assert reply["error"]["type"] == "Timeout"
    assert succeeded(legacy_bridge, document())["create"] is not None  # still serving


def test_a_restart_in_a_cooling_pool_fails_in_restart_kernel(
    legacy_bridge: LegacyBridge,
) -> None:
    """The first run's released ports are in their reuse cooldown (60 s).

    The restart's create_kernel fails (PortPoolExhaustedError); restart_kernel logs
    it and then fails itself reading the new kernel's container_id.
    """
    doc = document(
        restarting=True, **{"facts.host_ports": [30000, 30001, 30002, 30003, 30004]}
    )
    reply = run(legacy_bridge, doc)
    assert reply["error"]["type"] == "KeyError"
    assert (reply["error"]["phase"], reply["error"]["step"]) == (
        "restart",
        "restart_kernel",
    )
    assert any("swallowed" in entry["message"] for entry in reply["logs"])
    assert reply["released_ports"] == [30000, 30001, 30002, 30003]
