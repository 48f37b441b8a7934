"""The runner package files that provisioning copies (§4.3).

Fact gathering (executor) reads exactly these from the ``ai.backend.runner``
directory and the scratch stage (planner) copies them, so both sides share the
list. Each pair is the source name in the runner package and the destination,
relative to the kernel's work directory.
"""

from __future__ import annotations

from typing import Final

__all__ = ["JUPYTER_ASSETS", "RUNNER_ASSETS", "RUNNER_DOTFILES"]

JUPYTER_ASSETS: Final = (
    ("jupyter-custom.css", ".jupyter/custom/custom.css"),
    ("logo.svg", ".jupyter/custom/logo.svg"),
    ("roboto.ttf", ".jupyter/custom/roboto.ttf"),
    ("roboto-italic.ttf", ".jupyter/custom/roboto-italic.ttf"),
)
RUNNER_DOTFILES: Final = (
    ".bashrc",
    ".bash_profile",
    ".zshrc",
    ".vimrc",
    ".tmux.conf",
    "DO_NOT_STORE_PERSISTENT_FILES_HERE.md",
)
RUNNER_ASSETS: Final = tuple(name for name, _ in JUPYTER_ASSETS) + RUNNER_DOTFILES
