"""kplan legacy bridge worker: runs the real Backend.AI 26.9.6 ``create_kernel``.

Started once by kplan's legacy bridge (``legacy._bridge``) under the *legacy*
interpreter (a Python 3.13 venv with ``backend-ai-agent==26.9.6``) in isolated mode:
``python -I -c "...; from worker.server import main"`` with this package's parent
directory first on ``sys.path``. So this package is ``worker`` there and
``legacy.worker`` to kplan's type checker; its modules import each other
relatively. It imports only the standard library and the legacy ``ai.backend.*``
packages (and their dependencies), never kplan, whose dependencies the legacy venv
does not have. Design: architecture.md §4, design §6; behaviour references:
legacy-behaviour.md (cited as §n / Hn; steps A0-A10, B1-B20 of §2).

Modules, in dependency order: ``protocol`` (JSON values, reply shapes), ``errors``,
``context_facts`` (ids, umask, identity, the runner facts), ``dotfile_paths`` and
``request_checks`` (refusals), ``libc`` and ``mount_table`` (syscalls, the mount
table), ``run_dirs`` (the temp dir), ``legacy_modules`` (the imported agent),
``namespace_paths``, ``runner_overlay`` and ``host_places`` (namespace-only paths),
``sandbox`` (confinement), ``docker_recorder`` (stub 1), ``agent_object`` (stub 2),
``compute`` (stubs 3-5), ``host_answers`` (stubs 6-7), ``agent_config`` (patch 9),
``tree_snapshot`` (the tree), ``legacy_run`` (the legacy calls, patch 8),
``run_process`` and ``supervise`` (the processes), ``server`` (requests).

Protocol (JSON lines, one object per line each way; nothing else is written to stdout:
the real stdout is kept privately and fd 1 is pointed at stderr at start-up)
---------------------------------------------------------------------------------------
* ``{"id", "op": "ping"}`` -> ``{"id", "ok": true, "legacy_version", "python"}``.
* ``{"id", "op": "run", "context", "timeout"=60}`` -> the reply below. ``context`` is
  a context document (docs/context.md) whose ``kernel_config`` and ``cluster_info``
  kplan has normalised (manager defaults filled, ``kernel_config.image`` set): the
  worker fills no defaults and passes both to legacy exactly as received (legacy
  pickles ``kernel_config`` into ``kconfig.dat``). Of the rest it reads
  ``kernel_id``, ``session_id`` (both UUIDs, as the RPC handler parses them),
  ``agent_id``, ``restarting``, ``updating_kernel_config``, ``local_config``,
  ``resource_spec.allocations`` and these ``facts``: ``is_root``/``uid``/``gid``,
  ``umask``, ``runner`` (``files``, ``has_dropbear``, ``listing``),
  ``seccomp_profile_base64``, ``docker_volumes``, ``image_present``, ``image_id``,
  ``image_distro``, ``devices``, ``host_ports``, ``rlimits``, ``container_opts``,
  ``socket_proxy_tokens``. Other facts (``host``, ``arch``, ``krunner_python``,
  ``scratch``) are this machine's, see "Not substituted".
* Malformed JSON / unknown op / bad arguments -> ``ok: false`` with
  ``error.type == "BadRequest"``; the worker keeps running. EOF on stdin -> exit 0.

Reply of ``run`` (every key always present; JSON shapes)
---------------------------------------------------------
* ``id``; ``ok``: true iff legacy reached ``kernel_obj.init`` (B18) in every phase.
* ``refused``: null, or ``[{"field", "value" (its repr), "hazard"}]`` when the
  context was refused before anything ran (then ``scratch_root`` is null and the
  rest empty). A ``hazard`` starts with the hazard number (``H1/H2``, ``H4``,
  ``H5``, ``H7``, ``H21``) or with ``input:`` (the worker cannot answer what legacy
  would ask: no ``ai.backend.base-distro`` label and no ``facts.image_distro``
  (legacy would probe the image in containers), ``facts.image_present`` null for a
  non-local image, fewer ``socket_proxy_tokens`` than proxies, a network mode other
  than ``bridge`` (no network plugin is loaded); or a value would name a path
  outside the run: kernel id, device names, plugin and listing file names).
  Absolute dotfile paths are accepted only when legacy maps them below the work dir
  (``/home/work/x``, ``/home/./work/x``; never ``/home//work/x``).
* ``scratch_root``: the temp scratch root legacy got (``container.scratch_root``).
* ``tree``: the scratch root after the run in the shared tree format (path, type,
  mode, uid, gid, size, sha256, volatile; ``volatile`` for the hostfile image
  ``<kid>.img``, with sha256 null, and dropbear's random host key and its ``.pub``);
  ``contents``: path -> text of its small UTF-8 files.
* ``create``: ``{"name", "config"}`` of the (last phase's) recorded
  ``containers.create`` (the full create body, JSON), or null when not reached.
  ``first_create``: on a restart, the first run's; else null.
* ``environ``: ``[[key, value], ...]``, the kernel object's final environ in order
  (the dict shared with ``kernel_config["environ"]``); null before B15.
* ``service_ports``: the kernel's service ports after ``start_container``:
  ``[{"name", "protocol" (its string value), "container_ports": [..],
  "host_ports": [..], "is_inference"}]``; null before B15.
* ``cmdargs``: the command line ``start_container`` got (= the body's ``Cmd``).
* ``kernel``: null, or ``{"kernel_id", "session_id", "agent_id", "network_id",
  "image" (canonical), "version", "network_driver", "session_type",
  "container_id", "kernel_host", "repl_in_port", "repl_out_port", "stdin_port",
  "stdout_port", "host_ports": [..], "block_service_ports",
  "domain_socket_proxies": [{"host_sock_path", "host_proxy_path"}]}``.
* ``kconfig``: ``config/kconfig.dat`` unpickled (JSON types only), or null.
* ``events``: event class names in emission order (``KernelPreparingAnycastEvent``,
  ``KernelPreparingBroadcastEvent``, ``KernelPullingAnycastEvent``, ...,
  ``DoAgentResourceCheckEvent``, ``AgentErrorEvent``; ``ContainerLifecycleEvent``
  for each ``inject_container_lifecycle_event``, detailed in ``calls``).
* ``calls``: ``[{"call", ...arguments}]`` in order: ``get_image_distro``
  (``image_id``, ``result``), ``check_image`` (``image``, ``image_id``,
  ``auto_pull``, ``result`` or ``raised``), ``pull_image`` (``image``,
  ``registry``, ``timeout_seconds``), ``reconstruct_resource_usage``,
  ``inject_container_lifecycle_event`` (``kernel_id``, ``session_id``, ``event``
  e.g. ``DESTROY``, ``reason`` e.g. ``failed-to-create``/``restarting``,
  ``container_id``), ``container.start``, ``container.exec`` (``cmd``, ``user``),
  ``networks.get`` and ``network.connect`` (``network``, ``config``),
  ``alloc_map.free`` (``device``, ``alloc``: start_container's rollback).
* ``released_ports``: host ports given back to the pool, in order (restart's clean,
  ``start_container``'s rollback).
* ``proxy_sockets``: ``[{"path", "type": "socket"|"other", "mode"}]`` found in the
  namespace-only proxy dir after the run.
* ``container_configs``: the last context's ``container_configs`` fragments
  (network, ``HostConfig.Mounts``), as merged into the body.
* ``logs``: ``[{"level", "logger", "message"}]``: legacy's records >= WARNING and
  the worker's own notes (e.g. when ``allocate()`` made other allocations than
  ``resource_spec.allocations``).
* ``error``: null, or ``{"type", "message", "step" (the innermost legacy function
  it passed through), "phase" ("setup"|"create"|"restart"), "traceback"}``; a
  legacy failure is a result (the partial tree and records are returned).
  ``restart_kernel`` only logs a failure of its ``create_kernel``: when it then
  returns, that failure is the ``error``; when it then raises (reading the new
  kernel's ``container_id``), its exception is, and a log note names the first.
  The worker's own: ``Timeout`` (the run was killed; the tree is the host-side
  view), ``ConfinementError`` (sandbox not established; legacy did not run),
  ``RunnerCrashed`` / ``SupervisorCrashed``.

Process layout of one ``run``
-----------------------------
parent (unconfined; holds the pre-imported legacy modules; child subreaper; enforces
the timeout with SIGKILL of the run's process group; removes the temp dir)
-> fork *supervisor* (root; own session; private mount namespace, see ``sandbox``;
installs the namespace-only substitutions; snapshots the tree as root) -> fork
*runner* (umask from ``facts.umask``; drops to ``facts.uid/gid`` when
``facts.is_root`` is false; HOME ``aux/home``, cwd ``aux/``; installs the stubs;
runs legacy). Children report through pipes. The temp dir
``$TMPDIR/kplan-legacy-*`` holds ``scratch/`` (the scratch root; its tree is
returned) and ``aux/``.

Legacy calls (``legacy_run``)
-----------------------------
New kernel: the real ``DockerAgent.create_kernel(ownership, image_ref,
kernel_config, cluster_info, restarting=False)`` (ownership with the config's owner
ids, ``image_ref = ImageRef.from_image_config(kernel_config["image"])``), A0-B18 as
legacy runs them, ``init_kernel_context``/``resolve_image_distro``/``check_image``/
``start_container`` included; it ends at B18 (patch 8). B19 polling never runs.
Restart: that first run, then the real ``DockerAgent.restart_kernel(ownership
without owner ids (as the RPC handler builds it), image_ref,
updating_kernel_config)``: it loads ``config/kconfig.dat`` and
``config/cluster.json`` from the first run's scratch, merges ``{**kconfig,
**updating}``, injects ``DESTROY(RESTARTING)`` and waits for the clean handler,
which the worker emulates (``LegacyRun.clean_for_restart``: the old kernel's proxy
servers closed and their sockets unlinked, its ``host_ports`` released to the pool
in order through the real ``_restore_ports``, ``destroy_event`` set), then calls
``create_kernel(..., restarting=True)`` with the stored cluster_info, again to B18.

Input substitutions (what legacy reads is the context's, not this machine's)
----------------------------------------------------------------------------
1. Scratch root: ``container.scratch_root`` is the temp ``scratch/``.
2. Runner dir (``runner_overlay``): inside the namespace, ``ai.backend.runner`` shows
   the facts' ten copied files (content, mode), ``default-seccomp.json`` from
   ``facts.seccomp_profile_base64`` (absent when null: no ``SecurityOpt``),
   ``dropbearmulti.<arch>.bin`` only when ``has_dropbear``, and every other name of
   ``facts.runner.listing`` (the real entry, bound read-only; an empty placeholder
   when this machine lacks it); a name not listed is absent (``listing`` null: no
   other name), so ``mount_krunner`` finds exactly the facts' files.
3. Proxy dir (``host_places``): with domain-socket proxies,
   ``<agent.ipc_base_path>/proxy`` is a namespace-only tmpfs owned by the runner
   (made by covering its deepest existing ancestor with a tmpfs that shows all of
   its entries, so the temp dir stays reachable and writable); legacy really starts
   its unix servers there (reported in ``proxy_sockets``). Nothing reaches the host.
4. ``agent-docker-container-opts.json``: exactly ``facts.container_opts``, in order,
   at the last of legacy's places (``~/.config/backend.ai/`` = ``aux/home/...``, the
   cwd ``aux/``; a third at ``/etc/backend.ai/``, namespace only); a host file at
   ``/etc/backend.ai/`` is covered by ``/dev/null`` (not a regular file: skipped).

Stubs and patches (the minimum; everything else is the real legacy code, none copied)
------------------------------------------------------------------------------------
1. ``Docker`` in ``docker.agent``, ``docker.kernel``, ``docker.intrinsic`` and
   ``docker.utils`` is ``docker_recorder.FakeDocker``: ``volumes.list()`` answers
   ``facts.docker_volumes``; ``images.inspect`` answers ``{"Id": facts.image_id}``
   when ``facts.image_present`` else a 404 ``DockerError`` (the real
   ``check_image`` decides); ``containers.create(config, name)`` records the body
   and returns a container with the fixed id ``"deadbeef" * 8`` whose ``start()``
   succeeds, ``port(p)`` answers from the recorded ``HostConfig.PortBindings``,
   ``show()`` lists no networks, ``exec(...).start(detach=True)`` returns ``b""``;
   ``networks.get(ref).connect(config)`` is recorded. Anything else raises.
   Reason: no Docker daemon may be contacted.
2. The agent is ``object.__new__(DockerAgent)`` (``agent_object``) with: the real
   ``AgentUnifiedConfig`` (patch 9), a real ``PortPool`` over ``port_range`` whose
   queue is ``facts.host_ports`` (all past the cooldown; null: the whole range) and
   whose ``release_many`` is recorded, real locks, empty ``kernel_registry``,
   ``restarting_kernels``, ``_active_creates``/``_active_pulls`` (the real
   ``track_create``), ``NetworkPluginContext(None, {})`` (no plugins),
   ``gwbridge_subnet=None``, ``_seccomp_profile_as_path=False``, ``affinity_map``
   None, ``agent_sockpath`` ``<ipc>/container/agent.<agent_id>.sock``,
   ``event_producer`` a placeholder raising on use; events recorded, not sent
   (``anycast_and_broadcast_event``, ``anycast_event``, ``produce_error_event``,
   ``inject_container_lifecycle_event``); ``pull_image`` and
   ``reconstruct_resource_usage`` recorded only; ``check_image`` the real one,
   recorded; ``valkey_stat_client.get_image_distro`` answers ``facts.image_distro``
   (so the real ``resolve_image_distro`` takes the label, then this "cache");
   ``init_kernel_context`` is the real one, recorded, and the context's
   ``start_container`` records its arguments (``cmdargs`` is a create_kernel local)
   before calling the real one. Reason: ``__init__``/``__ainit__`` connect to etcd,
   Redis and Docker.
3. ``computers``: ``cpu`` and ``mem`` are the real ``CPUPlugin``/``MemoryPlugin``
   (``init()`` not called: nothing on this path needs it), then one
   ``compute.FactsComputePlugin`` per ``facts.devices`` entry, in order, answering
   its facts (``generate_docker_args`` -> ``docker_args``, a fresh copy per call;
   ``generate_mounts`` writes ``files`` into the given dir (mode as given, else the
   umask's) and returns ``mounts`` as ``MountInfo``; ``get_hooks`` -> ``hooks``;
   ``get_additional_gids``; ``get_additional_allowed_syscalls``;
   ``get_attached_devices`` -> ``attached_devices``; ``generate_resource_data`` ->
   ``resource_data``; ``get_docker_networks`` -> ``networks``). Reason: device
   plugins are host-specific; the agent carries their answers in the facts.
4. Alloc maps: ``compute.AllocationAnswer`` per computer hands the real
   ``allocate()`` the context's ``resource_spec.allocations[device]``
   (``Decimal(str(amount))``, order kept; ``{}`` when absent); ``devices`` are id-only
   stand-ins for its affinity hints. Reason: allocation is stateful, so the context
   carries its result (a mismatch with what ``allocate()`` made is logged).
5. The global ``known_slot_types`` is filled in place from all computers'
   ``slot_types``. Reason: the agent fills it from loaded plugins at start.
6. ``ai.backend.agent.utils.resource`` answers ``getrlimit`` from ``facts.rlimits``
   for nofile/memlock (-1 = unlimited; the worker's own limits otherwise), so the
   real ``get_safe_ulimit`` makes the ``Ulimits``. Reason: a host fact.
7. ``ai.backend.agent.docker.agent.secrets.token_hex`` hands out
   ``facts.socket_proxy_tokens`` in order. Reason: randomness is a fact.
8. ``DockerKernel.init`` records and raises a private ``BaseException``
   (``legacy_run.StopAtInit``; create_kernel's ``except Exception`` handlers let it
   through, so no spurious ``reconstruct_resource_usage``), caught as success.
   Reason: B18 creates the zmq code runner and B19 polls a live container.
9. ``AgentUnifiedConfig`` is validated with every *absolute* ``AutoDirectoryPath``
   field other than ``container.scratch_root`` pointed below ``aux/``, then the
   original paths are put back with ``model_copy``; ``agent.backend`` ("docker"),
   ``resource`` and ``etcd`` ({}) are filled when missing (required sections).
   Reason: that validator ``mkdir -p``s on the host.
10. Non-root runs only: each directory on the way to the interpreter the runner's
   uid cannot traverse (``/root``, 0700) is covered, in the namespace only, by a
   read-only tmpfs exposing read-only binds of just the needed children
   (``sandbox.expose_runtime``). Reason: the venv lives below ``/root``.

Not substituted (this machine's)
--------------------------------
``/etc/localtime``, ``/etc/timezone``, ``/var/lib/lxcfs``, ``/dev/infiniband``
(``facts.host``), ``get_arch_name()`` (``facts.arch``), the installed
``ai.backend.krunner.*`` packages (``facts.krunner_python``), ``os.geteuid()``
beyond the identity the runner takes, ``mount``/``mkfs.ext4``, and the
``ai.backend.kernel``/``helpers`` package paths. A restart always runs after a first
run here, so ``facts.scratch`` is not used.
"""
