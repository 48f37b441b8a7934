"""``kplan diff`` as a pure function: a compiled plan against another outcome.

The other side (``Outcome``) is what another run of ``create_kernel`` left: a tree
(from the legacy worker, a tree file or a snapshot) and a way to read its small
files back, and, from the legacy worker, the container's create body and name,
the environ, the service ports, the kernel record and the unpickled
``kconfig.dat``. Every part the other side has is compared:

* the tree (architecture.md §3.5), where ``kconfig.dat`` compares by its unpickled
  value (pickle bytes depend on object identity) and resource.txt without its
  ``CID=`` lines (only the container's create knows the id);
* the create body as JSON, the seccomp profile inside ``SecurityOpt`` parsed;
* the environ as a mapping, the service ports with their host ports, and the
  kernel record's fields.

Differences on paths an enabled quirk changes are labelled with the quirk, found by
planning the same context with and without each quirk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath
from typing import final

import attrs
import orjson
from returns.result import Success

from effects import (
    CreateContainer,
    Plan,
    RegisterKernel,
    Tree,
    VerifyContainer,
    project,
    thaw_object,
)

from ._compile import FIRST_RUN, compile_plan
from ._context import Context
from ._diff import Diff, Difference, DifferenceKind, diff_json, diff_trees
from ._docker_merge import fragments_of
from ._kconfig import KconfigError, read_kconfig
from ._layout import config_dir
from ._stages import STAGES, Stages

__all__ = [
    "Outcome",
    "compare",
    "container_fragments",
    "expected_tree",
    "plan_reader",
    "quirk_labels",
]

Reader = Callable[[PurePosixPath], bytes | None]
KERNEL_FIELDS = (
    "kernel_id",
    "session_id",
    "agent_id",
    "network_id",
    "image",
    "version",
    "network_driver",
    "session_type",
    "kernel_host",
    "repl_in_port",
    "repl_out_port",
    "host_ports",
    "block_service_ports",
)


@final
@attrs.frozen(kw_only=True)
class Outcome:
    """What the other side left; ``None`` parts are not compared."""

    tree: Tree
    content: Reader
    create: tuple[str, object] | None = None  # (name, body) of the last create
    first_create: tuple[str, object] | None = None  # a restart's first run's
    environ: tuple[tuple[str, str], ...] | None = None
    service_ports: list[object] | None = None
    kernel: Mapping[str, object] | None = None
    kconfig: object = None


def expected_tree(ctx: Context, plan: Plan) -> Tree:
    """The tree ``plan`` leaves on the facts' scratch (compiled plans project)."""
    return project(plan, ctx.facts.scratch_tree).unwrap()


def plan_reader(ctx: Context, plan: Plan, tree: Tree) -> Reader:
    """Read back the content the plan (or the facts) leave at a path."""
    known = {**ctx.facts.content_table, **plan.blob_table}

    def read(path: PurePosixPath) -> bytes | None:
        node = tree.nodes.get(path)
        return None if node is None or node.sha256 is None else known.get(node.sha256)

    return read


def quirk_labels(
    ctx: Context, quirks: Iterable[str], stages: Stages = STAGES
) -> dict[str, str]:
    """Path -> the enabled quirk that changes what the plan leaves there."""
    enabled = sorted(set(quirks))
    if not enabled:
        return {}
    baseline = _tree_with(ctx, (), stages)
    labels: dict[str, str] = {}
    for quirk in enabled:
        changed = _tree_with(ctx, (quirk,), stages)
        if baseline is None or changed is None:
            continue
        for path in set(baseline.nodes) | set(changed.nodes):
            if baseline.nodes.get(path) != changed.nodes.get(path):
                labels.setdefault(str(path), quirk)
    return labels


def _tree_with(ctx: Context, quirks: tuple[str, ...], stages: Stages) -> Tree | None:
    match compile_plan(ctx, quirks, stages=stages):
        case Success(plan):
            return expected_tree(ctx, plan)
        case _:
            return None


def compare(
    ctx: Context,
    plan: Plan,
    other: Outcome,
    *,
    quirks: Iterable[str] = (),
    stages: Stages = STAGES,
) -> Diff:
    """Every difference between what ``plan`` leaves and ``other``.

    ``stages`` are those ``plan`` was compiled with (plugins placed): quirks'
    labels are found by compiling again with and without each quirk.
    """
    tree = expected_tree(ctx, plan)
    mine = plan_reader(ctx, plan, tree)
    kconfig = config_dir(ctx) / "kconfig.dat"
    same_kconfig = (
        other.kconfig is not None and _unpickled(mine(kconfig)) == other.kconfig
    )
    result = diff_trees(
        tree,
        other.tree,
        plan_content=mine,
        other_content=other.content,
        quirks=quirk_labels(ctx, quirks, stages),
        equal={str(kconfig): "equal by unpickled value"} if same_kconfig else {},
    )
    found = [*result.differences, *_container_differences(plan, other)]
    return Diff(differences=tuple(found), normalised=result.normalised)


def _unpickled(data: bytes | None) -> object:
    if data is None:
        return None
    try:
        return read_kconfig(data)
    except KconfigError:
        return None


def _creates(plan: Plan) -> list[tuple[str, dict[str, object]]]:
    return [
        (s.effect.name, thaw_object(s.effect.config))
        for s in plan.steps
        if isinstance(s.effect, CreateContainer)
    ]


def _container_differences(plan: Plan, other: Outcome) -> list[Difference]:
    found: list[Difference] = []
    creates = _creates(plan)
    last = creates[-1] if creates else None
    first = creates[0] if len(creates) > 1 else None
    for label, mine, theirs in (
        ("create", last, other.create),
        ("first-run/create", first, other.first_create),
    ):
        if theirs is not None:
            found += _create_differences(label, mine, theirs)
    record = _record(plan)
    if other.environ is not None and record is not None:
        found += _prefixed(
            "environ",
            diff_json(_environ(record.get("environ")), _environ(dict(other.environ))),
        )
    if other.service_ports is not None and record is not None and last is not None:
        ports = _with_host_ports(record.get("service_ports"), last[1])
        found += _prefixed("service_ports", diff_json(ports, other.service_ports))
    if other.kernel is not None and record is not None:
        found += _prefixed(
            "kernel", _kernel_differences(record, _verified(plan), other.kernel)
        )
    return found


def _create_differences(
    label: str, mine: tuple[str, dict[str, object]] | None, theirs: tuple[str, object]
) -> list[Difference]:
    if mine is None:
        return [Difference(kind="create-body", path=label, plan=None, other="created")]
    found = []
    if mine[0] != theirs[0]:
        found.append(
            Difference(
                kind="create-body", path=f"{label}.name", plan=mine[0], other=theirs[0]
            )
        )
    found += _prefixed(
        label, diff_json(_parsed_security(mine[1]), _parsed_security(theirs[1]))
    )
    return found


def _parsed_security(body: object) -> object:
    """The body with each ``seccomp=<json>`` option parsed, to compare as JSON."""
    if not isinstance(body, dict):
        return body
    host = body.get("HostConfig")
    if not isinstance(host, dict) or not isinstance(host.get("SecurityOpt"), list):
        return body
    options = []
    for option in host["SecurityOpt"]:
        kind, sep, value = str(option).partition("=")
        if kind == "seccomp" and sep and value.startswith("{"):
            try:
                options.append({"seccomp": orjson.loads(value)})
                continue
            except orjson.JSONDecodeError:
                pass
        options.append(option)
    return {**body, "HostConfig": {**host, "SecurityOpt": options}}


def _verified(plan: Plan) -> tuple[tuple[int, int], ...]:
    """The last container's planned port bindings, in exposed-port order."""
    checks = [
        s.effect.ports for s in plan.steps if isinstance(s.effect, VerifyContainer)
    ]
    return checks[-1] if checks else ()


def _record(plan: Plan) -> dict[str, object] | None:
    records = [
        s.effect.record for s in plan.steps if isinstance(s.effect, RegisterKernel)
    ]
    return thaw_object(records[-1]) if records else None


def _environ(environ: object) -> object:
    """An environ as a mapping, ``ADDITIONAL_GIDS`` as a set (its order is H22's)."""
    if not isinstance(environ, dict):
        return environ
    gids = environ.get("ADDITIONAL_GIDS")
    if isinstance(gids, str):
        return {**environ, "ADDITIONAL_GIDS": sorted(gids.split(","))}
    return environ


def _bindings(body: dict[str, object]) -> dict[int, int]:
    host = body.get("HostConfig")
    bindings = host.get("PortBindings") if isinstance(host, dict) else None
    found = {}
    for port, binds in (bindings or {}).items() if isinstance(bindings, dict) else ():
        if isinstance(binds, list) and binds and isinstance(binds[0], dict):
            found[int(str(port).split("/")[0])] = int(str(binds[0].get("HostPort")))
    return found


def _with_host_ports(ports: object, body: dict[str, object]) -> object:
    """The planned service ports with the host ports their bindings give them."""
    if not isinstance(ports, list):
        return ports
    bound = _bindings(body)
    return [
        {**port, "host_ports": [bound.get(p) for p in port["container_ports"]]}
        if isinstance(port, dict) and isinstance(port.get("container_ports"), list)
        else port
        for port in ports
    ]


def _kernel_differences(
    record: dict[str, object],
    bindings: tuple[tuple[int, int], ...],
    theirs: Mapping[str, object],
) -> list[Difference]:
    bound = dict(bindings)
    planned = {
        **record,
        "repl_in_port": bound.get(2000),
        "repl_out_port": bound.get(2001),
        "host_ports": [host for _, host in bindings],  # in exposed-port order
    }
    mine = {k: planned.get(k) for k in KERNEL_FIELDS if k in theirs and k in planned}
    return diff_json(mine, {k: theirs[k] for k in mine})


KINDS: Mapping[str, DifferenceKind] = {
    "environ": "environ",
    "service_ports": "service-ports",
    "kernel": "kernel",
}


def _prefixed(prefix: str, differences: list[Difference]) -> list[Difference]:
    kind = KINDS.get(prefix, "create-body")
    return [
        attrs.evolve(
            d,
            kind=kind,
            path=f"{prefix}.{d.path}" if d.path != "(document)" else prefix,
        )
        for d in differences
    ]


def container_fragments(plan: Plan) -> list[dict[str, object]]:
    """Legacy's ``ctx.container_configs`` for ``plan``, in append order.

    A restart planned after its first run (``first-run/`` stages) has the fragments
    of the restart only, as legacy's restarted context does.
    """
    return fragments_of(
        [s.effect for s in plan.steps if not s.stage.startswith(FIRST_RUN)]
    )
