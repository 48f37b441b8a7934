"""Stub 1: aiodocker's ``Docker`` as legacy reaches it, answered and recorded.

Theory of operation
-------------------
The runner replaces the ``Docker`` global of every legacy module on this path
(``docker.agent``, ``docker.kernel``, ``docker.intrinsic``, ``docker.utils``) by
``FakeDocker``, which shares one ``DockerRecorder``. Only the calls that
``create_kernel``/``start_container``/``check_image`` make are answered:

* ``volumes.list()`` -> ``facts.docker_volumes`` (``get_extra_volumes``, §5 #8);
* ``images.inspect(name)`` -> ``{"Id": facts.image_id}`` when ``facts.image_present``,
  else ``DockerError(404)`` (so the real ``check_image`` decides, §2 A6);
* ``containers.create(config=..., name=...)`` -> records the body and the name and
  returns a ``FakeContainer`` with id ``FAKE_CONTAINER_ID``, whose ``start()``
  succeeds, ``port(p)`` answers from the recorded ``HostConfig.PortBindings``,
  ``show()`` reports no networks, and ``exec(...)`` (sudo session) returns an exec
  whose ``start(detach=True)`` answers an empty response;
* ``networks.get(ref)`` -> a network whose ``connect(config)`` is recorded.

Anything else raises ``NotImplementedError``: no Docker daemon is ever contacted.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, Self

from .protocol import JSONObject, to_jsonable

# The container id every recorded create returns: 64 hex digits like Docker's, fixed
# so that CID= lines and the kernel record are the same in every run.
FAKE_CONTAINER_ID = "deadbeef" * 8


@dataclass
class DockerRecorder:
    """What the Docker stand-in answers (facts) and what legacy asked of it."""

    docker_error: Any  # aiodocker.exceptions.DockerError
    volume_names: Sequence[str] = ()
    image_present: bool | None = None
    image_id: str | None = None
    creates: list[JSONObject] = field(default_factory=list)
    calls: list[JSONObject] = field(default_factory=list)

    def record(self, call: str, **args: Any) -> None:
        """Remember one call (arguments as JSON)."""
        self.calls.append({"call": call, **to_jsonable(args)})


def _unsupported(what: str, attr: str) -> NotImplementedError:
    return NotImplementedError(
        f"kplan worker: {what}.{attr} is not available "
        "(no Docker daemon may be contacted)"
    )


class _Strict:
    """Raises on any attribute the stand-in does not define."""

    _what: ClassVar[str] = "Docker"

    def __getattr__(self, attr: str) -> Any:
        raise _unsupported(self._what, attr)


class _Volumes(_Strict):
    _what = "Docker.volumes"

    def __init__(self, recorder: DockerRecorder) -> None:
        self._recorder = recorder

    async def list(self) -> JSONObject:
        return {"Volumes": [{"Name": name} for name in self._recorder.volume_names]}


class _Images(_Strict):
    _what = "Docker.images"

    def __init__(self, recorder: DockerRecorder) -> None:
        self._recorder = recorder

    async def inspect(self, name: str) -> JSONObject:
        rec = self._recorder
        if not rec.image_present:
            raise rec.docker_error(HTTPStatus.NOT_FOUND, f"No such image: {name}")
        return {"Id": rec.image_id}


class _Exec(_Strict):
    _what = "DockerContainer.exec"

    async def start(self, *, detach: bool = False) -> bytes:
        del detach
        return b""


class FakeContainer(_Strict):
    """The container ``containers.create`` returns."""

    _what = "DockerContainer"

    def __init__(self, recorder: DockerRecorder, config: JSONObject) -> None:
        self._recorder = recorder
        self._config = config
        self._id = FAKE_CONTAINER_ID
        self.id = FAKE_CONTAINER_ID

    async def start(self) -> None:
        self._recorder.record("container.start", container_id=self._id)

    async def port(self, private_port: int) -> list[JSONObject] | None:
        bindings = self._config.get("HostConfig", {}).get("PortBindings", {})
        found = bindings.get(f"{private_port}/tcp")
        return copy.deepcopy(found) if found else None

    async def show(self) -> JSONObject:
        return {"Id": self._id, "NetworkSettings": {"Networks": {}}}

    async def exec(self, cmd: Sequence[str], **kwargs: Any) -> _Exec:
        self._recorder.record("container.exec", cmd=list(cmd), **kwargs)
        return _Exec()


class _Network(_Strict):
    _what = "DockerNetwork"

    def __init__(self, recorder: DockerRecorder, ref: str) -> None:
        self._recorder = recorder
        self._ref = ref

    async def connect(self, config: JSONObject) -> None:
        self._recorder.record("network.connect", network=self._ref, config=config)


class _Networks(_Strict):
    _what = "Docker.networks"

    def __init__(self, recorder: DockerRecorder) -> None:
        self._recorder = recorder

    async def get(self, ref: str) -> _Network:
        self._recorder.record("networks.get", network=ref)
        return _Network(self._recorder, ref)


class _Containers(_Strict):
    _what = "Docker.containers"

    def __init__(self, recorder: DockerRecorder) -> None:
        self._recorder = recorder

    async def create(self, config: JSONObject, *, name: str | None = None) -> Any:
        self._recorder.creates.append({"name": name, "config": to_jsonable(config)})
        return FakeContainer(self._recorder, config)


class FakeDocker(_Strict):
    """Stands in for ``aiodocker.Docker`` in the legacy modules (stub 1)."""

    recorder: ClassVar[DockerRecorder | None] = None

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        recorder = type(self).recorder
        if recorder is None:
            msg = "kplan worker: the Docker stand-in was not installed"
            raise RuntimeError(msg)
        self.volumes = _Volumes(recorder)
        self.images = _Images(recorder)
        self.containers = _Containers(recorder)
        self.networks = _Networks(recorder)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None


DOCKER_USERS = (
    "docker_agent_module",
    "docker_kernel_module",
    "intrinsic_module",
    "docker_utils_module",
)


def install_fake_docker(legacy: Any, recorder: DockerRecorder) -> None:
    """Stub 1: every legacy module on this path gets ``FakeDocker`` as ``Docker``."""
    FakeDocker.recorder = recorder
    for name in DOCKER_USERS:
        getattr(legacy, name).Docker = FakeDocker
