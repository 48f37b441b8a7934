"""Small hand-built plans shared by the example tests."""

from __future__ import annotations

from pathlib import PurePosixPath as P

from effects import (
    EMPTY,
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

HEADER = Header(
    scratch_root=P("/var/lib/backend.ai/scratches"),
    kernel_id="k1",
    run_as_uid=0,
    run_as_gid=0,
)
HELLO = blob_of(b"hello\n")


def every_effect_plan() -> Plan:
    """One step of every effect type, in a valid order."""
    effects: list[Effect] = [
        PullImage(ref="cr.backend.ai/stable/python:3.11", digest="sha256:abc"),
        MakeDir(path=P("k1"), mode=0o755),
        MakeDir(path=P("k1/config"), mode=0o755),
        Chmod(path=P("k1/config"), mode=0o750),
        MakeDir(path=P("k1_tmp"), mode=0o755),
        MountScratch(kind="tmpfs", path=P("k1_tmp"), size=64 * 2**20),
        WriteFile(path=P("k1/config/environ.txt"), blob=HELLO.digest, mode=0o644),
        Chown(path=P("k1/config/environ.txt"), uid=1000, gid=None),
        GenerateHostKey(path=P("k1/config/key"), kind="rsa", bits=2048),
        ContainerMount(
            type="bind",
            source="/x",
            target="/home/x",
            read_only=True,
            options=freeze_object({"Propagation": "rprivate"}),
        ),
        ContainerConfig(
            fragment=freeze_object({"HostConfig": {"NetworkMode": "none"}})
        ),
        RegisterKernel(record=freeze_object({"kernel_id": "k1"})),
        CreateContainer(name="kernel.k1", config=freeze_object({"Image": "busybox"})),
        StartContainer(name="kernel.k1"),
        VerifyContainer(name="kernel.k1", checks=("running", "still-running")),
    ]
    steps = [Step(stage="stage-a", effect=effect) for effect in effects]
    return seal(HEADER, steps, [HELLO], [(1, 2), (2, 3), (2, 6)])


def small_plan() -> Plan:
    """The plan pinned by the golden encoding test."""
    steps = [
        Step(stage="scratch", effect=MakeDir(path=P("k1"), mode=0o755)),
        Step(
            stage="scratch",
            effect=WriteFile(path=P("k1/a.txt"), blob=HELLO.digest, mode=0o640),
        ),
        Step(stage="scratch", effect=Chown(path=P("k1/a.txt"), uid=1000, gid=1000)),
        Step(
            stage="mounts",
            effect=ContainerMount(
                type="volume", source="v", target="/v", read_only=False, options=EMPTY
            ),
        ),
    ]
    return seal(HEADER, steps, [HELLO], [(0, 1), (1, 2)])
