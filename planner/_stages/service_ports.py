"""The kernel's service ports (§2 B11, B12).

Every kernel gets ``sshd`` (2200/tcp) and ``ttyd`` (7681/http). A main or master
kernel also gets, in this order, its preopen ports (2000 and 2001 are reserved; a
port already taken by a service is a conflict), the image label's services (the
last of one name wins) and one ``hostport<n>`` (protocol ``internal``) per
``allocated_host_ports`` entry. An inference session adds each model's service port
(B12). Errors are legacy's: ``ReservedPortError``, ``PortConflictError``, the label
parser's ``ValueError``, the model definition's errors.
"""

from __future__ import annotations

from returns.result import Result

from .._context import Context
from .._model_definition import model_definition
from .._service_port_labels import LabelError, service_ports_of
from .._stage_api import Draft, Part, Upstream
from .._threaded import ServicePort
from ..errors import PlanError

__all__ = ["service_ports"]

STAGE = "service-ports"
REPL = (2000, 2001)
LABEL = "ai.backend.service-ports"


def service_ports(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the service ports of ``create_kernel`` (B11, B12)."""
    draft = Draft(ctx, up, STAGE)
    ports = [
        ServicePort(
            name="sshd", protocol="tcp", container_ports=(2200,), host_ports=(None,)
        ),
        ServicePort(
            name="ttyd", protocol="http", container_ports=(7681,), host_ports=(None,)
        ),
    ]
    if ctx.kernel_config.cluster_role in {"main", "master"}:
        _main_ports(ctx, draft, ports)
    if ctx.kernel_config.session_type == "inference":
        _model_ports(ctx, draft, ports)
    draft.thread(service_ports=tuple(ports))
    return draft.result()


def _main_ports(ctx: Context, draft: Draft, ports: list[ServicePort]) -> None:
    try:
        labelled = service_ports_of(
            ctx.label(LABEL), ctx.label("ai.backend.endpoint-ports")
        )
    except LabelError as exc:
        draft.fail(
            "crash",
            f"kernel_config.image.labels.{LABEL}",
            repr(ctx.label(LABEL)),
            f"legacy raises ValueError({str(exc)!r})",
        )
        labelled = []
    by_name = {port.name: port for port in labelled}
    for index, number in enumerate(ctx.kernel_config.preopen_ports):
        field = f"kernel_config.preopen_ports[{index}]"
        if _admissible(draft, ports, number, field):
            ports.append(
                ServicePort(
                    name=str(number),
                    protocol="preopen",
                    container_ports=(number,),
                    host_ports=(None,),
                )
            )
    ports += by_name.values()
    ports += [
        ServicePort(
            name=f"hostport{index + 1}",
            protocol="internal",
            container_ports=(number,),
            host_ports=(number,),
        )
        for index, number in enumerate(ctx.kernel_config.allocated_host_ports)
    ]


def _admissible(
    draft: Draft, ports: list[ServicePort], number: int, field: str
) -> bool:
    if number in REPL:
        draft.fail(
            "crash",
            field,
            str(number),
            "ports 2000 and 2001 are the kernel's: legacy raises ReservedPortError",
        )
        return False
    taken = [p.name for p in ports if number in p.container_ports]
    if taken:
        draft.fail(
            "crash",
            field,
            str(number),
            f"the service {taken[0]!r} has this port: legacy raises PortConflictError",
        )
        return False
    return True


def _model_ports(ctx: Context, draft: Draft, ports: list[ServicePort]) -> None:
    models = model_definition(ctx)
    if not isinstance(models, tuple):
        draft.fail("crash", models.field, "inference", models.reason)
        return
    for index, model in enumerate(models):
        if model.port is None:
            continue
        field = (
            f"kernel_config.internal_data.model_definition.models[{index}].service.port"
        )
        if _admissible(draft, ports, model.port, field):
            ports.append(
                ServicePort(
                    name=f"{model.name}-{model.port}",
                    protocol="preopen",
                    container_ports=(model.port,),
                    host_ports=(None,),
                    is_inference=True,
                )
            )
