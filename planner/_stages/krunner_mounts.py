"""The kernel runner's mounts (§9.2), on new kernels only.

``mount_krunner`` mounts, read-only and in this order, the runner package's static
binaries (a missing required one raises ``FileNotFoundError``; the man pages and
``bssh-server`` are skipped when absent), the ``libbaihook`` and ``jail`` builds
matched to the image's distro, the terminfo for musl images, the runner's
scripts, the krunner volume matched to the distro (``container.krunner_volumes``)
at ``/opt/backend.ai``, and the kernel and helpers packages into the krunner's
python. Paths are the runner package's, as the facts list it; the krunner python
version is its package's (``facts.krunner_python``; legacy falls back to 3.6 when
the package has no version file, and raises ``ModuleNotFoundError`` when there is no
package at all, H27).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath

from returns.result import Result

from .._context import Context
from .._distro import DistroError, artifact_distro, match_distro
from .._stage_api import Draft, Part, Upstream
from .._threaded import Mount
from ..errors import PlanError

__all__ = ["krunner_mounts"]

STAGE = "krunner-mounts"
LISTING = "facts.runner.listing"
_PACKAGE = re.compile(r"^([a-z-]+)(\d+(\.\d+)*)?$")
SCRIPTS = (
    "extract_dotfiles.py",
    "entrypoint.sh",
    "fantompass.py",
    "hash_phrase.py",
    "words.json",
)


def krunner_mounts(ctx: Context, up: Upstream) -> Result[Part, tuple[PlanError, ...]]:
    """Plan the runner part of ``mount_krunner`` (§9.2)."""
    draft = Draft(ctx, up, STAGE)
    if ctx.restarting:
        return draft.result()
    volumes = dict(ctx.local.container.krunner_volumes or {})
    distro = up.threaded.distro
    try:
        matched, volume = match_distro(volumes, distro)
    except DistroError:
        draft.fail(
            "crash",
            "local_config.container.krunner_volumes",
            repr(sorted(volumes)),
            f"no krunner volume fits the distro {distro!r}: legacy raises "
            "UnsupportedBaseDistroError",
        )
        return draft.result()
    pyver = _python(ctx, draft, matched)
    runner = _Runner(ctx, draft, distro)
    mounts = runner.mounts(matched, volume, pyver)
    if not draft.failed:
        draft.thread(mounts=(*up.mounts, *mounts))
    return draft.result()


def _python(ctx: Context, draft: Draft, matched: str) -> str:
    match = _PACKAGE.search(matched)
    if match is None:
        return "3.6"
    versions = ctx.facts.krunner_python
    if matched not in versions:
        package = match.group(1).replace("-", "_")
        draft.fail(
            "crash",
            "facts.krunner_python",
            matched,
            f"no package ai.backend.krunner.{package}: legacy raises "
            "ModuleNotFoundError (H27)",
        )
        return "3.6"
    return versions[matched] or "3.6"


class _Runner:
    """The runner package's files as legacy resolves and checks them."""

    def __init__(self, ctx: Context, draft: Draft, distro: str) -> None:
        self.ctx, self.draft, self.distro = ctx, draft, distro
        root = PurePosixPath(ctx.facts.runner.origin)
        # Mount sources are text: names are joined to the root's (a path apiece
        # costs a microsecond, and the package has two dozen files).
        self.root, self.parent = _prefix(root), _prefix(root.parent)
        self.arch = ctx.facts.arch
        self.found: list[Mount] = []

    def mounts(self, matched: str, volume: str, pyver: str) -> list[Mount]:
        arch = self.arch
        self.static(f"su-exec.{arch}.bin", "/opt/kernel/su-exec")
        self.versioned(f"libbaihook.*.{arch}.so", "/opt/kernel/libbaihook.so")
        for name, target in (
            (f"dropbearmulti.{arch}.bin", "/opt/kernel/dropbearmulti"),
            (f"sftp-server.{arch}.bin", "/opt/kernel/sftp-server"),
            (f"tmux.{arch}.bin", "/opt/kernel/tmux"),
            (f"ttyd_linux.{arch}.bin", "/opt/kernel/ttyd"),
            ("yank.sh", "/opt/kernel/yank.sh"),
            (f"all-smi.{arch}.bin", "/usr/local/bin/all-smi"),
        ):
            self.static(name, target)
        self.static("all-smi.1", "/usr/local/share/man/man1/all-smi.1", optional=True)
        self.static(f"bssh.{arch}.bin", "/usr/local/bin/bssh")
        self.static("bssh.1", "/usr/local/share/man/man1/bssh.1", optional=True)
        self.static(f"bssh-server.{arch}.bin", "/opt/kernel/bssh-server", optional=True)
        self.static(
            "bssh-server.8", "/usr/local/share/man/man8/bssh-server.8", optional=True
        )
        jail = self.jail()
        if self.distro.startswith("alpine"):
            self.bind(self.root + "terminfo.alpine3.8", "/home/work/.terminfo")
        # Scripts are not checked for existence (Docker would refuse the mount).
        for name in SCRIPTS:
            self.bind(self.root + name, f"/opt/kernel/{name}")
        if jail is not None:
            self.bind(jail, "/opt/kernel/jail")
        self.found.append(
            Mount(
                type="volume", source=volume, target="/opt/backend.ai", permission="ro"
            )
        )
        pylib = f"/opt/backend.ai/lib/python{pyver}/site-packages/"
        for package in ("kernel", "helpers"):
            self.bind(self.parent + package, f"{pylib}ai/backend/{package}")
        del matched  # the key only chose the volume and the python version
        return self.found

    def bind(self, source: str, target: str) -> None:
        self.found.append(
            Mount(type="bind", source=source, target=target, permission="ro")
        )

    def static(self, name: str, target: str, *, optional: bool = False) -> None:
        runner = self.ctx.facts.runner
        # has_dropbear is the one word on dropbear (the listing may predate it)
        present = (
            runner.has_dropbear
            if name == f"dropbearmulti.{self.arch}.bin"
            else runner.has(name)
        )
        if present:
            self.bind(self.root + name, target)
        elif not optional:
            self.draft.fail(
                "crash",
                LISTING,
                name,
                f"the runner package has no {name}: legacy raises FileNotFoundError",
            )

    def versioned(self, pattern: str, target: str) -> None:
        chosen = self._artifact(pattern)
        if chosen is not None:
            self.bind(self.root + chosen, target)

    def jail(self) -> str | None:
        if self.ctx.local.container.sandbox_type != "jail":
            return None
        chosen = self._artifact(f"jail.*.{self.arch}.bin")
        return None if chosen is None else self.root + chosen

    def _artifact(self, pattern: str) -> str | None:
        candidates = {
            distro: name
            for name in self.ctx.facts.runner.listing or ()
            if fnmatch.fnmatchcase(name, pattern)
            and (distro := artifact_distro(name)) is not None
        }
        try:
            return match_distro(candidates, self.distro)[1]
        except DistroError:
            self.draft.fail(
                "crash",
                LISTING,
                pattern,
                f"no {pattern} for the distro {self.distro!r}: legacy raises "
                "UnsupportedBaseDistroError",
            )
            return None


def _prefix(directory: PurePosixPath) -> str:
    """``directory``'s text with one trailing slash, to put a name after."""
    return f"{str(directory).rstrip('/')}/"
