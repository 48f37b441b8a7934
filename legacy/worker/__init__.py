"""kplan legacy bridge worker: runs the real Backend.AI 26.9.6 kernel-creation code.

Started once by kplan's legacy bridge (``legacy._bridge``) under the *legacy*
interpreter (a Python 3.13 venv with ``backend-ai-agent==26.9.6``) in isolated mode:
``python -I -c "...; from worker.server import main"`` with this package's parent
directory first on ``sys.path``. So this package is ``worker`` there and
``legacy.worker`` to kplan's type checker; its modules import each other
relatively. It imports only the standard library and the legacy ``ai.backend.*``
packages (and their dependencies), never kplan, whose dependencies the legacy venv
does not have. Design: architecture.md §4; behaviour references:
legacy-behaviour.md (cited as §n / Hn).

Modules, in dependency order: ``protocol`` (JSON values, response/report shapes),
``errors``, ``context_facts`` (umask, identity, ``facts.runner``), ``dotfile_paths``
and ``request_checks`` (step 1), ``libc`` and ``mount_table`` (syscalls, the mount
table), ``run_dirs`` (the temp dir), ``legacy_modules`` (the imported agent),
``runner_overlay`` (input substitution 2), ``sandbox`` (confinement, patch 7),
``stubs`` (stubs 1, 3-5), ``agent_config`` (stub 2), ``legacy_inputs`` (constructor
inputs), ``tree_snapshot`` (the tree), ``legacy_run`` (the legacy calls),
``run_process`` and ``supervise`` (the processes), ``server`` (requests).

Protocol (JSON lines, one object per line each way; nothing else is written to stdout:
the real stdout is kept privately and fd 1 is pointed at stderr at start-up)
---------------------------------------------------------------------------------------
* ``{"id", "op": "ping"}`` -> ``{"id", "ok": true, "legacy_version", "python"}``.
* ``{"id", "op": "run", "context", "timeout"=60}`` -> ``{"id", "ok", "scratch_root",
  "tree", "contents", "container_configs", "kernel", "logs", "error", "refused"}``.
  ``context`` is a context document (architecture.md §3.1); of its ``facts`` the
  worker uses ``is_root``/``uid``/``gid``, ``umask``, ``docker_volumes`` and ``runner``
  (``{"origin", "has_dropbear", "files": {name: {"mode": "0o644", "content_base64"}}}``,
  see input substitution 2 below). ``tree`` is the shared tree format (path, type,
  mode, uid, gid, size, sha256, volatile); ``volatile`` is true for the hostfile image
  ``<kid>.img`` (reported with ``sha256`` null and its real size: hashing a sparse
  multi-GB image made hostfile runs slow) and for dropbear's random host key
  ``<kid>/config/ssh/dropbear_rsa_host_key`` and its ``.pub`` (digest kept).
  ``contents`` maps the paths of small UTF-8 files to their text. ``logs`` holds
  legacy's records >= WARNING plus the worker's own notes (level WARNING).
  ``ok`` is false when refused (``refused`` lists every problem; nothing ran), when
  legacy raised (``error.step`` is the method name, ``error.phase`` "create" or
  "restart"; the partial tree is returned), or on timeout (``error.type == "Timeout"``;
  the tree is then the host-side view after the run was killed, i.e. without mounts
  made inside the run). Other ``error.type`` values of the worker itself:
  ``ConfinementError`` (sandbox not established; legacy did not run),
  ``RunnerCrashed`` / ``SupervisorCrashed`` (a child died without a report).
* Malformed JSON / unknown op / bad arguments -> ``ok: false`` with
  ``error.type == "BadRequest"``; the worker keeps running. EOF on stdin -> exit 0.
* Refusal ``hazard`` strings start with the hazard number (legacy-behaviour.md)
  when there is one (``H1/H2``, ``H4``, ``H5``, ``H7``, ``H19``, ``H21``), else with
  ``input:``.
  Absolute dotfile paths are accepted only when legacy maps them below the work dir
  (``/home/work/x``, ``/home/./work/x``; never ``/home//work/x``, which legacy turns
  into the host path ``/work/x``).

Process layout of one ``run``
-----------------------------
parent (unconfined; holds the pre-imported legacy modules; child subreaper; enforces
the timeout with SIGKILL of the run's process group; removes the temp dir)
-> fork *supervisor* (root; own session; private mount namespace, see
``sandbox.confine_to``; installs the input substitutions; snapshots the tree as
root, unmounts) -> fork *runner* (umask from ``facts.umask``; drops to
``facts.uid/gid`` when ``facts.is_root`` is false; runs legacy). Children report
through pipes. The temp dir ``$TMPDIR/kplan-legacy-*`` holds ``scratch/`` (the
scratch root; its tree is returned) and ``aux/`` (runner cwd, see patch 2;
``aux/runner-overlay/``, see input substitution 2).

Legacy calls (create_kernel's order, §2): new kernel: ``get_intrinsic_mounts``,
``prepare_scratch``, ``apply_network``, ``prepare_ssh``, (``KernelResourceSpec`` from
the context, mounts = intrinsic + context mounts), ``process_mounts``,
``prepare_container(spec, environ, [], cluster_info)`` with ``computer_docker_args``
from the context. Restart (§15): the full new-kernel run, then a second context with
``restarting=True``: ``prepare_resource_spec`` (reads ``config/resource.txt``; not
``generate_resource_spec``, whose unified-device rescan needs real plugins and changes
no output on restart), ``apply_network``, ``prepare_ssh``, ``process_mounts``,
``prepare_container``; its ``computer_docker_args`` stay ``{}`` as in legacy. Not called
by design: ``allocate``, ``mount_vfolders``, ``mount_krunner``,
``inject_additional_device_env_vars``, the ``kconfig.dat``/``cluster.json`` writes,
``start_container`` (steps A10, B5-B7, B14, B17).

Input substitutions (what legacy reads is the context's, not this machine's)
----------------------------------------------------------------------------
1. Scratch root: ``container.scratch_root`` is replaced by the temp ``scratch/`` (see
   patch 2). Reason: legacy writes there; the result must be the request's, not the
   host's.
2. Runner files: when ``facts.runner`` is present, inside the private namespace only,
   the ``ai.backend.runner`` package dir (``files("ai.backend.runner")``, where
   ``prepare_scratch`` takes the ten files it copies, §4.3, and ``prepare_ssh`` looks
   for ``dropbearmulti.<arch>.bin``, §8 step 2) is covered by a bind mount of
   ``aux/runner-overlay/``: each of the ten names is the facts' content and mode (owned
   by the identity legacy runs as; a name absent from ``files`` is absent, so
   ``prepare_scratch`` raises ``FileNotFoundError`` as it would on such a host),
   dropbear is there only when ``has_dropbear`` (else H8: no host key, no cluster keys,
   an ERROR log), and every other real entry is a read-only bind of the real one (same
   inode, so ``.resolve()`` and exec behave as before). All of it is read-only for
   legacy. Reason: the plan is computed from the facts, so legacy must
   copy the same bytes (a plan made from another host's facts, or the sample assets,
   is then compared like for like, and H8 is reachable). The host's runner dir is
   never written. Without ``facts.runner`` legacy sees the real files.
The worker refuses ``facts.runner`` values it cannot lay out: file names other than the
ten, modes that are not octal up to 0o7777, content that is not base64, and a
non-boolean ``has_dropbear``.

Stubs and patches (the minimum; everything else is the real legacy code, none copied)
------------------------------------------------------------------------------------
1. ``ai.backend.agent.docker.agent.Docker`` is replaced (runner only) by
   ``stubs.FakeDockerClient``, whose only call is ``volumes.list()``, answered from
   ``facts.docker_volumes``. Reason: ``get_intrinsic_mounts`` lists Docker volumes
   (§5 #8) and no Docker daemon may be contacted; the real ``get_extra_volumes`` still
   decides. Any other Docker use raises.
2. ``AgentUnifiedConfig`` is validated with every *absolute* ``AutoDirectoryPath`` field
   other than ``container.scratch_root`` (given or default: ``agent.ipc_base_path``,
   ``agent.var_base_path``, ``agent.image_commit_path``, ``agent.mount_path``,
   ``debug.coredump.path``) pointed at a dir under ``aux/``; the original paths are put
   back with ``model_copy``. Reason: that validator ``mkdir -p``s its path
   (``common/typed_validators.py``), i.e. writes on the host (and fails on the
   read-only confined root). Relative defaults (``./coredumps`` ...) land in ``aux/``.
   ``container.scratch_root`` is replaced by the temp scratch root; ``agent.backend``
   ("docker"), ``resource`` and ``etcd`` ({}) are filled in when missing (required).
3. ``computers``: a real ``ComputerContext`` per device (allocations plus
   ``resource_data`` keys) whose ``instance`` is ``stubs.StubComputePlugin`` (``key``,
   ``slot_types``, ``generate_resource_data`` -> ``context.resource_data[device]``).
   Reason: device plugins are not loaded; ``prepare_container`` calls
   ``generate_resource_data`` for every allocated device (§12.2 step 6).
4. ``event_producer`` is ``stubs.UnusedDependency`` (raises on use). Reason: constructor
   argument unused on this path. ``port_pool`` (``PortPool`` from the config),
   ``resource_lock`` (``asyncio.Lock``) and ``network_plugin_ctx``
   (``NetworkPluginContext(None, {})``, no plugins discovered) are real objects.
5. The global ``ai.backend.agent.resources.known_slot_types`` is filled in place from
   ``resource_spec.known_slot_types``. Reason: the agent fills it from loaded plugins
   (``docker/resources.py``); it drives ``*_SHARES`` formatting (§12.2).
6. ``distro`` = image label ``ai.backend.base-distro`` or ``"unknown"``. Reason:
   ``resolve_image_distro`` needs Docker; only ``mount_krunner`` (not called) reads it.
7. Non-root runs only (``facts.is_root`` false): inside the private namespace, each
   directory on the way to the interpreter that ``facts.uid`` cannot traverse (here
   ``/root``, 0700) is covered by a read-only tmpfs exposing read-only binds of just
   the needed children (``sandbox.expose_runtime``). Reason: the legacy venv and its
   base Python live below ``/root``; a real non-root agent can read its own
   installation.
The ``environ`` default (context without ``environ``) follows §2.1 rows 1-3
(create_kernel's own inline code, not callable separately). All other host facts
(``/etc/localtime``, ``/etc/timezone``, ``/var/lib/lxcfs``, ``/dev/infiniband``, the
runner files when ``facts.runner`` is absent, the other runner entries including
``dropbearmulti``, ``mount``, ``mkfs.ext4``, ``os.geteuid()``) are this machine's.
Kernel and session ids that parse as UUIDs are passed as ``UUID`` like the agent does
(so upper-case ids become lower-case directory names).
"""
