"""Reading the context's ``facts``: ids, umask, the runner's identity, the runner dir.

``facts.runner`` (with ``facts.seccomp_profile_base64``) is input substitution 2: the
runner directory legacy reads. It is decoded here, refused by ``request_checks``
when it cannot be laid out, and shown to legacy by ``runner_overlay``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

# The runner files prepare_scratch copies (§4.3); facts.runner.files
# may carry any of them, and nothing else.
SECCOMP_PROFILE = "default-seccomp.json"  # start_container reads it (§14.3)
RUNNER_ASSETS = (
    "jupyter-custom.css",
    "logo.svg",
    "roboto.ttf",
    "roboto-italic.ttf",
    ".bashrc",
    ".bash_profile",
    ".zshrc",
    ".vimrc",
    ".tmux.conf",
    "DO_NOT_STORE_PERSISTENT_FILES_HERE.md",
)
MAX_MODE = 0o7777  # chmod's range: permission bits plus set-id and sticky
_OCTAL_TEXT_RE = re.compile(r"(0o)?[0-7]+")  # "0o644" (the facts' spelling) or "644"


@dataclass(frozen=True)
class RunnerAsset:
    """One runner file as the facts describe it."""

    name: str  # one of RUNNER_ASSETS
    mode: int
    content: bytes


@dataclass(frozen=True)
class RunnerAssets:
    """What legacy's runner dir must show.

    The ten assets (content and mode), dropbear or not, the seccomp profile (None:
    absent), and every other name of ``listing`` (None: no other name).
    """

    files: tuple[RunnerAsset, ...]
    has_dropbear: bool
    seccomp_profile: bytes | None = None
    listing: tuple[str, ...] | None = None


def parse_id(value: str) -> Any:
    """Ids the agent gets as ``UUID`` (``KernelId(UUID(...))``); others verbatim.

    So upper-case ids become the lower-case directory names legacy makes.
    """
    try:
        return UUID(value)
    except ValueError:
        return value


def parse_umask(value: Any) -> int:
    """Parse ``facts.umask`` ("0o022", "022" or an int); default 0o022."""
    if value is None:
        return 0o022
    if isinstance(value, int) and not isinstance(value, bool):
        return value & 0o777
    return int(str(value), 8) & 0o777


def runner_identity(facts: Mapping[str, Any]) -> tuple[int, int] | None:
    """uid:gid the runner drops to, or None when it stays root (``facts.is_root``)."""
    if facts.get("is_root", True) is False:
        return int(facts["uid"]), int(facts["gid"])
    return None


def decode_runner_asset(name: Any, entry: Any) -> RunnerAsset:
    """One ``facts.runner.files`` entry.

    Raises:
        ValueError: naming the problem (callers collect it as a refusal).
    """
    if name not in RUNNER_ASSETS:
        msg = "not one of the runner files legacy copies (§4.3)"
        raise ValueError(msg)
    if not isinstance(entry, Mapping):
        msg = "entry must be an object with mode and content_base64"
        raise ValueError(msg)  # noqa: TRY004 - the contract is ValueError
    return RunnerAsset(
        name=name,
        mode=_decode_mode(entry.get("mode")),
        content=_decode_content(entry.get("content_base64")),
    )


def _decode_mode(mode: Any) -> int:
    if (
        not isinstance(mode, str)
        or not _OCTAL_TEXT_RE.fullmatch(mode)
        or int(mode, 8) > MAX_MODE
    ):
        msg = f"mode {mode!r} is not an octal mode up to 0o7777"
        raise ValueError(msg)
    return int(mode, 8)


def _decode_content(content: Any) -> bytes:
    if not isinstance(content, str):
        msg = "content_base64 must be a string"
        raise ValueError(msg)  # noqa: TRY004 - the contract is ValueError
    try:
        return base64.b64decode(content, validate=True)
    except ValueError as exc:  # binascii.Error, or text not ASCII
        msg = f"content_base64 is not base64: {exc}"
        raise ValueError(msg) from exc


def runner_assets(facts: Mapping[str, Any]) -> RunnerAssets | None:
    """``facts.runner`` decoded, or None when absent (legacy then sees the real files).

    Call only on validated contexts (``request_checks``): raises on bad input.
    """
    runner = facts.get("runner")
    if runner is None:
        return None
    files = tuple(decode_runner_asset(n, e) for n, e in runner["files"].items())
    seccomp = facts.get("seccomp_profile_base64")
    listing = runner.get("listing")
    return RunnerAssets(
        files=files,
        has_dropbear=runner["has_dropbear"],
        seccomp_profile=None if seccomp is None else base64.b64decode(seccomp),
        listing=None if listing is None else tuple(listing),
    )
