"""Input substitution 2: the runner dir legacy sees is the facts' (namespace only).

Theory of operation
-------------------
prepare_scratch copies ten files of the ai.backend.runner package (§4.3),
prepare_ssh needs its dropbearmulti.<arch>.bin (§8 step 2), mount_krunner globs
and checks the kernel-runner files (§9.2) and start_container reads
default-seccomp.json (§14.3). All locate them through files("ai.backend.runner")
(.resolve()d), so the package directory itself must show the facts:
aux/runner-overlay/ is built with the facts' ten assets (content, mode), the facts'
seccomp profile (absent when null), dropbear only when has_dropbear, and every
other name of facts.runner.listing: a read-only bind of the real entry (big
binaries: bound, never copied), or an empty placeholder file when this machine's
runner dir lacks it (mount_krunner only checks existence and names the path).
A real entry the listing does not name is not there. The overlay is then bound over
the real runner dir and remounted read-only. Nothing propagates out of the private
namespace; the host's runner dir is never written.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from .context_facts import RUNNER_ASSETS, SECCOMP_PROFILE, RunnerAsset, RunnerAssets
from .errors import ConfinementError
from .legacy_modules import Legacy
from .libc import MS_BIND, MS_NODEV, MS_NOSUID, MS_REC, sys_mount
from .mount_table import remount_readonly_below, unmount_below
from .protocol import write_all
from .run_dirs import RunPaths

RUNNER_OVERLAY = "runner-overlay"  # below aux/: the runner dir legacy sees (input 2)


def install_runner_overlay(
    legacy: Legacy, assets: RunnerAssets, paths: RunPaths, owner: tuple[int, int]
) -> list[str]:
    """Make legacy's runner dir show ``assets``; returns warnings for the response log.

    ``owner`` is the identity legacy runs as: it owns the substituted files so that
    even a 0600 asset stays readable, as an agent's own installation is to it.

    Raises:
        ConfinementError: the overlay cannot be built (legacy must not run).
    """
    real = os.path.realpath(legacy.runner_dir)
    overlay = os.path.join(paths.aux, RUNNER_OVERLAY)
    wanted = shown_names(assets, legacy.dropbear_name)
    try:
        _make_overlay_dir(real, overlay)
        bound = _bind_real_entries(real, overlay, wanted)
        _write_assets(overlay, assets.files, owner)
        if assets.seccomp_profile is not None:
            profile = RunnerAsset(SECCOMP_PROFILE, 0o644, assets.seccomp_profile)
            _write_assets(overlay, [profile], owner)
        for name in sorted(wanted - bound - {legacy.dropbear_name}):
            _write_assets(overlay, [RunnerAsset(name, 0o644, b"")], owner)
        sys_mount(overlay, real, MS_BIND | MS_REC)
        remount_readonly_below(real, MS_NOSUID | MS_NODEV)
    except OSError as exc:
        msg = f"cannot show the facts' runner files at {real}: {exc}"
        raise ConfinementError(msg) from exc
    # the copies under `real` stay; the aux-side binds are no longer needed
    warnings = [f"unmount failed: {e}" for e in unmount_below(overlay)]
    if assets.has_dropbear and legacy.dropbear_name not in bound:
        warnings.append(
            f"facts.runner.has_dropbear is true but {real} has no "
            f"{legacy.dropbear_name}; legacy runs without it"
        )
    return warnings


def shown_names(assets: RunnerAssets, dropbear_name: str) -> set[str]:
    """The names besides the assets and the profile that the overlay shows."""
    written = {*RUNNER_ASSETS, SECCOMP_PROFILE}
    names = set(assets.listing or ()) - written - {dropbear_name}
    if assets.has_dropbear:
        names.add(dropbear_name)
    return names


def _make_overlay_dir(real: str, overlay: str) -> None:
    """An empty dir with the real runner dir's mode and owner."""
    st = os.stat(real)
    os.mkdir(overlay, 0o700)
    os.chown(overlay, st.st_uid, st.st_gid)
    os.chmod(overlay, stat.S_IMODE(st.st_mode))


def _bind_real_entries(real: str, overlay: str, wanted: set[str]) -> set[str]:
    """Show every real entry in ``wanted`` in ``overlay``; returns the names shown.

    Files and dirs are bind-mounted onto placeholders (same inode, so ``.resolve()``
    and exec behave as on the real dir); symlinks are recreated with the same text,
    which resolves the same way from the same path.
    """
    shown = set()
    for name in sorted(os.listdir(real)):
        if name not in wanted:
            continue
        _show_entry(os.path.join(real, name), os.path.join(overlay, name))
        shown.add(name)
    return shown


def _show_entry(source: str, target: str) -> None:
    """One real entry at ``target``: a symlink copy, or a bind onto a placeholder."""
    mode = os.lstat(source).st_mode
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(source), target)
        return
    if stat.S_ISDIR(mode):
        os.mkdir(target, 0o700)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    sys_mount(source, target, MS_BIND | MS_REC)


def _write_assets(
    overlay: str, assets: Sequence[RunnerAsset], owner: tuple[int, int]
) -> None:
    """Write each asset with the facts' content and mode."""
    for asset in assets:
        path = os.path.join(overlay, asset.name)
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o600)
        try:
            write_all(fd, asset.content)
            os.fchown(fd, *owner)
            os.fchmod(fd, asset.mode)  # after fchown, which clears set-id bits
        finally:
            os.close(fd)
