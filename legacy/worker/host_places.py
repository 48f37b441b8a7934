"""Substitutions 3 and 4: the ipc proxy dir and the container-opts files (namespace).

* Domain-socket proxies (§5 row 11): ``get_intrinsic_mounts`` creates
  ``<agent.ipc_base_path>/proxy`` and a unix socket per proxy in it. When the
  context has proxies, that directory is a fresh tmpfs owned by the runner's
  identity (``namespace_paths.writable_dir``), so legacy really creates them and
  nothing reaches the host.
* ``agent-docker-container-opts.json`` (§14.4 step 7): legacy merges the regular
  files of that name found in ``/etc/backend.ai/``, ``~/.config/backend.ai/`` and
  the cwd, in that order. The runner's HOME is ``aux/home`` and its cwd ``aux/``,
  so the facts' documents (``facts.container_opts``, in order) are written to the
  last of those places (one or two documents: home, cwd); a third goes to
  ``/etc/backend.ai/`` (``create_in_namespace`` when absent). A host file at
  ``/etc/backend.ai/`` not meant to be seen is covered by ``/dev/null``, which is
  not a regular file, so legacy skips it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from .legacy_modules import Legacy
from .namespace_paths import bind_file, create_in_namespace, writable_dir
from .protocol import as_dict
from .run_dirs import RunPaths

CONTAINER_OPTS = "agent-docker-container-opts.json"
ETC_CONTAINER_OPTS = f"/etc/backend.ai/{CONTAINER_OPTS}"


def ipc_base_path(legacy: Legacy, local_config: Mapping[str, Any]) -> str:
    """``agent.ipc_base_path`` as the agent config reads it (given, else default)."""
    agent = as_dict(local_config.get("agent"))
    for key in ("ipc_base_path", "ipc-base-path"):
        if isinstance(agent.get(key), str):
            return os.path.expanduser(str(agent[key]))
    section = legacy.AgentUnifiedConfig.model_fields["agent"].annotation
    return str(section.model_fields["ipc_base_path"].default)


def install_proxy_dir(
    legacy: Legacy, context: Mapping[str, Any], owner: tuple[int, int]
) -> list[str]:
    """Substitution 3; returns the writable mount points it made (none: no proxy)."""
    kernel_config = as_dict(context.get("kernel_config"))
    if not as_dict(kernel_config.get("internal_data")).get("domain_socket_proxies"):
        return []
    base = ipc_base_path(legacy, as_dict(context.get("local_config")))
    return [writable_dir(os.path.join(base, "proxy"), owner)]


def _write_json(path: str, *, document: Any, owner: tuple[int, int]) -> None:
    Path(path).write_text(json.dumps(document))
    os.chown(path, *owner)


def install_container_opts(
    facts: Mapping[str, Any], paths: RunPaths, owner: tuple[int, int]
) -> None:
    """Substitution 4 (see the module docstring)."""
    documents: Sequence[Any] = facts.get("container_opts") or []
    home_dir = os.path.join(paths.home, ".config", "backend.ai")
    places = [ETC_CONTAINER_OPTS, os.path.join(home_dir, CONTAINER_OPTS)]
    places.append(os.path.join(paths.aux, CONTAINER_OPTS))
    chosen = places[len(places) - len(documents) :]
    etc = ETC_CONTAINER_OPTS
    if etc not in chosen and os.path.lexists(etc) and not os.path.isdir(etc):
        bind_file(os.devnull, etc)
    for place, document in zip(chosen, documents, strict=True):
        if place == ETC_CONTAINER_OPTS:
            staged = os.path.join(paths.aux, f"etc-{CONTAINER_OPTS}")
            _write_json(staged, document=document, owner=owner)
            if os.path.lexists(place):
                bind_file(staged, place)
            else:
                create_in_namespace(
                    place, partial(_write_json, document=document, owner=owner)
                )
            continue
        os.makedirs(os.path.dirname(place), exist_ok=True)
        for directory in (os.path.join(paths.home, ".config"), home_dir):
            if os.path.isdir(directory):
                os.chown(directory, *owner)
        _write_json(place, document=document, owner=owner)
