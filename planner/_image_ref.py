"""The image reference legacy derives from ``kernel_config["image"]`` (``ImageRef``).

``ImageRef.from_image_config`` splits the canonical name with the registry's name:
the first ``/``-part is the registry when it equals that name (or is an IP
address), the tag follows the last ``:`` (``latest`` without one), and a given
project is cut off the front of the name. Legacy uses the pieces in several places:
``short`` (no registry) for local images and the samples-volume check (§5 row 8),
the last component of ``name`` in the container name (§14.5), ``architecture``
(aliased, ``amd64`` is ``x86_64``) in the architecture check (§2 A5).
"""

from __future__ import annotations

import ipaddress
import re
from typing import final

import attrs

from ._inputs import ImageConfig

__all__ = ["ARCH_ALIASES", "ImageRef", "ImageRefError", "image_ref", "registry_of"]

DEFAULT_REGISTRY = "index.docker.io"
DEFAULT_REPOSITORY = "lablup"
ARCH_ALIASES = {
    "arm64": "aarch64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "x32": "x86",
    "i686": "x86",
}
_SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-._]*[A-Za-z0-9])?$")


class ImageRefError(ValueError):
    """The image name is one legacy's parser refuses (``InvalidImageName``/``Tag``)."""


@final
@attrs.frozen(kw_only=True)
class ImageRef:
    """The parsed image: registry, project, name, tag, architecture, is_local."""

    registry: str
    project: str | None
    name: str
    tag: str
    architecture: str
    is_local: bool

    @property
    def canonical(self) -> str:
        """``registry/project/name:tag`` without empty parts."""
        return f"{_join(self.registry, self.project, self.name)}:{self.tag}"

    @property
    def short(self) -> str:
        """``project/name:tag``: the reference without its registry."""
        return f"{_join(self.project, self.name)}:{self.tag}"


def _join(*parts: str | None) -> str:
    return "/".join(part for part in parts if part)


def _is_ip_address(text: str) -> bool:
    """``is_ip_address_format``: the host part (port cut off) is an IP address."""
    if text.startswith("["):
        host = text[1 : text.find("]")] if "]" in text else text
    else:
        host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _split(canonical: str, registry: str) -> tuple[str, str, str]:
    """``ImageRef.parse_image_str``: (registry, project and name, tag)."""
    if "://" in canonical or canonical.startswith("//"):
        raise ImageRefError(f"{canonical!r} is not an image name")
    if "/" not in canonical:
        registry_part, rest = DEFAULT_REGISTRY, canonical
    else:
        first, remainder = canonical.split("/", 1)
        if registry in {first, "*"} or _is_ip_address(first):
            registry_part, rest = first, remainder
        else:
            registry_part, rest = registry, canonical
    default_repository = registry_part == "docker.io" or registry_part.endswith(
        ".docker.io"
    )
    name, sep, tag = rest.rpartition(":")
    if not sep:
        name, tag = rest, "latest"
    if not name:
        raise ImageRefError("empty image repository/name")
    if "/" not in name and default_repository:
        name = f"{DEFAULT_REPOSITORY}/{name}"
    if not _SLUG.search(tag):
        raise ImageRefError(f"invalid image tag {tag!r}")
    return registry_part, name, tag


def registry_of(canonical: str) -> str:
    """The registry part of a canonical name (``parse_image_str(name, "*")``)."""
    return _split(canonical, "*")[0]


def image_ref(image: ImageConfig) -> ImageRef:
    """``ImageRef.from_image_config(image)``; raises ``ImageRefError`` like legacy."""
    registry = image.registry.name if image.registry else registry_of(image.canonical)
    _, name, tag = _split(image.canonical, registry)
    project = image.project
    if project and name == project:
        name = ""
    elif project:
        if not name.startswith(f"{project}/"):
            msg = f"project {project!r} does not match {image.canonical!r}"
            raise ImageRefError(msg)
        name = name.split(f"{project}/", 1)[1]
    return ImageRef(
        registry=registry,
        project=project,
        name=name,
        tag=tag,
        architecture=ARCH_ALIASES.get(image.architecture, image.architecture),
        is_local=image.is_local,
    )
