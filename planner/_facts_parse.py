"""The ``facts`` section of a context: what was observed on the host.

See architecture.md §3.1.

``executor.gather_facts`` writes this section from the real host; a context file
may also carry it (golden tests, replays). The scratch tree uses the shared tree
format; ``contents`` holds, by SHA-256, the bytes of the small scratch files a
restart reads back, and the runner files are carried with their content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import PurePosixPath

from effects import Invalid, Reader, parse_mode, tree_from_document

from ._context import Facts, HostProbes, RunnerAssets, RunnerFile
from ._field_readers import text, text_list

__all__ = ["facts_from_reader"]


def facts_from_reader(facts: Reader) -> Facts:
    """Parse a facts object; raises ``Invalid`` naming the first bad field."""
    runner, runner_contents = _runner(facts.child("runner"))
    contents = _contents(facts) + runner_contents
    resolved = facts.optional("scratch_root_resolved")
    image_present = facts.optional("image_present")
    if image_present is not None and not isinstance(image_present, bool):
        facts.fail("image_present", "expected true, false or null")
    result = Facts(
        is_root=facts.boolean("is_root"),
        uid=facts.integer("uid", 0),
        gid=facts.integer("gid", 0),
        umask=parse_mode(facts.raw("umask"), facts.field("umask")),
        scratch_root_resolved=_resolved(facts, resolved),
        runner=runner,
        scratch=tree_from_document(facts.raw("scratch")),
        contents=contents,
        host=_host(facts.child("host")),
        docker_volumes=text_list(facts, "docker_volumes"),
        image_present=image_present,
        seccomp_profile=_optional_base64(facts, "seccomp_profile_base64"),
    )
    facts.done()
    return result


def _resolved(facts: Reader, value: object) -> PurePosixPath | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        facts.fail("scratch_root_resolved", "expected an absolute path")
    return PurePosixPath(value)


def _runner(runner: Reader) -> tuple[RunnerAssets, tuple[tuple[str, bytes], ...]]:
    files, contents = [], []
    for name, raw in runner.child("files").entries():
        entry = Reader(raw, f"{runner.field('files')}.{name}")
        data = _base64(entry, "content_base64")
        digest = hashlib.sha256(data).hexdigest()
        files.append(RunnerFile(name=name, mode=entry.mode("mode"), digest=digest))
        contents.append((digest, data))
        entry.done()
    assets = RunnerAssets(
        origin=text(runner, "origin"),
        files=tuple(files),
        has_dropbear=runner.boolean("has_dropbear"),
    )
    runner.done()
    return assets, tuple(contents)


def _contents(facts: Reader) -> tuple[tuple[str, bytes], ...]:
    if facts.optional("contents") is None:
        facts.has("contents")
        return ()
    result = []
    contents = facts.child("contents")
    for digest, _ in contents.entries():
        data = _base64(contents, digest)
        if hashlib.sha256(data).hexdigest() != digest:
            contents.fail(digest, "content does not match its sha256 key")
        result.append((digest, data))
    return tuple(result)


def _optional_base64(reader: Reader, key: str) -> bytes | None:
    return None if reader.optional(key) is None else _base64(reader, key)


def _base64(reader: Reader, key: str) -> bytes:
    value = reader.raw(key)
    if not isinstance(value, str):
        reader.fail(key, "expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise Invalid(reader.field(key), f"invalid base64: {exc}") from exc


def _host(host: Reader) -> HostProbes:
    result = HostProbes(
        platform=text(host, "platform", "linux"),
        etc_localtime=host.boolean("etc_localtime"),
        etc_timezone=host.boolean("etc_timezone"),
        lxcfs=host.boolean("lxcfs"),
        lxcfs_proc=text_list(host, "lxcfs_proc"),
        lxcfs_cpu=host.boolean("lxcfs_cpu"),
        lxcfs_cpu_online=host.boolean("lxcfs_cpu_online"),
        infiniband=host.boolean("infiniband"),
    )
    host.done()
    return result
