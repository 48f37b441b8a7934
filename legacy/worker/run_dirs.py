"""The temp dir of one run: ``$TMPDIR/kplan-legacy-*``, ``scratch/`` and ``aux/``.

``aux/`` is the runner's cwd and holds its HOME (``aux/home``), the redirected
auto-created dirs of the agent config and the runner overlay.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .protocol import JSONObject, log_entry


@dataclass(frozen=True)
class RunPaths:
    """Where one run happens; ``base`` is the only writable place once confined."""

    base: str  # the temp dir; only writable place once confined
    scratch: str  # realpath of the scratch root given to legacy
    aux: str  # runner cwd; relative AutoDirectoryPath defaults land here

    @property
    def home(self) -> str:
        """The runner's HOME (legacy reads ``~/.config/backend.ai/`` there)."""
        return os.path.join(self.aux, "home")

    @property
    def spare(self) -> Path:
        """Where patch 9 points legacy's absolute auto-created dirs."""
        return Path(self.aux) / "redirected-auto-dirs"


def make_paths() -> RunPaths:
    """Create a fresh temp dir with empty ``scratch/`` and ``aux/`` (mode 0700)."""
    base = os.path.realpath(tempfile.mkdtemp(prefix="kplan-legacy-"))
    scratch, aux = os.path.join(base, "scratch"), os.path.join(base, "aux")
    os.mkdir(scratch, 0o700)
    os.mkdir(aux, 0o700)
    paths = RunPaths(base=base, scratch=scratch, aux=aux)
    os.mkdir(paths.home, 0o700)
    return paths


def remove_run_dir(paths: RunPaths) -> list[JSONObject]:
    """Delete the temp dir (host view; the child's mounts died with its namespace)."""
    try:
        shutil.rmtree(paths.base)
    except OSError as exc:
        return [log_entry(f"could not remove {paths.base}: {exc}")]
    if os.path.lexists(paths.base):
        return [log_entry(f"{paths.base} still exists after removal")]
    return []
