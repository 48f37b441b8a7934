"""The pure parts of undo: step records, their journal codec, the undo decisions.

``executor._records`` and ``executor._record_codec`` (issue 8, item 6: the prior
state is a frozen value per effect kind, encoded explicitly) and the judgements of
``executor._inverse`` (issue 9, items 2, 3 and 9).
"""

from __future__ import annotations

from pathlib import PurePosixPath as P

import attrs
import orjson
import pytest

from effects import (
    Chmod,
    CreateContainer,
    Effect,
    GenerateHostKey,
    MakeDir,
    MountScratch,
    PullImage,
    WriteFile,
    freeze_object,
)
from effects.decoding import Invalid, Reader
from executor._inverse import (
    Changed,
    Guard,
    RemoveEntry,
    RemoveStaging,
    RestoreFile,
    SetMeta,
    Unmount,
    inverse_of,
    judge_in_place,
    judge_removal,
    judge_unmount,
    single_changes,
)
from executor._journal import created_line, done_line
from executor._record_codec import (
    decode_prior,
    encode_created,
    encode_left,
    encode_prior,
)
from executor._records import (
    Created,
    DirPrior,
    FilePrior,
    HostKeyPrior,
    ImagePrior,
    Left,
    MetaPrior,
    MountPrior,
    NoPrior,
    Prior,
    SavedFile,
    Stamp,
    StepRecord,
)

DIGEST = "a" * 64
OTHER = "b" * 64
STAGING = ".kplan-0123456789ab-7"
FILE = Stamp(kind="file", dev=1, ino=10, mode=0o644, uid=0, gid=0, sha256=DIGEST)
SAVED = SavedFile(name="prior-7", sha256=DIGEST, size=3)
PATH = P("k/work/.bashrc")
WRITE = WriteFile(path=PATH, blob=OTHER, mode=0o644)

PAIRS: list[tuple[Effect, Prior]] = [
    (MakeDir(path=P("k"), mode=0o755), DirPrior(existed=False, staging=STAGING)),
    (MakeDir(path=P("k"), mode=0o755), DirPrior(existed=True, staging=None)),
    (WRITE, FilePrior(old=None, saved=None, staging=STAGING)),
    (WRITE, FilePrior(old=FILE, saved=SAVED, staging=None)),
    (Chmod(path=PATH, mode=0o600), MetaPrior(old=FILE)),
    (
        GenerateHostKey(path=P("k/key"), kind="rsa", bits=2048),
        HostKeyPrior(staging=STAGING, public_staging=f"{STAGING}-pub"),
    ),
    (MountScratch(kind="tmpfs", path=P("k"), size=1), MountPrior(dev=5, staging=None)),
    (PullImage(ref="busybox", digest=None), ImagePrior(present=False)),
    (CreateContainer(name="c", config=freeze_object({})), NoPrior()),
]


@pytest.mark.parametrize(("effect", "prior"), PAIRS)
def test_every_prior_round_trips_through_its_journal_json(
    effect: Effect, prior: Prior
) -> None:
    encoded = orjson.loads(orjson.dumps(encode_prior(prior)))
    assert decode_prior(effect, Reader(encoded, "prior")) == prior


@pytest.mark.parametrize(
    ("effect", "prior", "field"),
    [
        (MakeDir(path=P("k"), mode=0o755), {"staging": None}, "prior.existed"),
        (
            Chmod(path=PATH, mode=0o600),
            {"old": {"kind": "file", "dev": 1, "ino": 2, "uid": 0, "gid": 0}},
            "prior.old.mode",
        ),
        (
            WRITE,
            {"old": None, "saved": None, "staging": "../../etc"},
            "prior.staging",
        ),
        (
            WRITE,
            {
                "old": orjson.loads(orjson.dumps(encode_prior(MetaPrior(old=FILE))))[
                    "old"
                ],
                "saved": {"name": "/etc/passwd", "sha256": DIGEST, "size": 1},
                "staging": None,
            },
            "prior.saved.name",
        ),
        (PullImage(ref="busybox", digest=None), {"present": "yes"}, "prior.present"),
        (CreateContainer(name="c", config=freeze_object({})), {"x": 1}, "prior.x"),
    ],
)
def test_a_bad_prior_names_its_field(
    effect: Effect, prior: dict[str, object], field: str
) -> None:
    with pytest.raises(Invalid) as raised:
        decode_prior(effect, Reader(prior, "prior"))
    assert raised.value.field == field


def _record(
    effect: Effect,
    prior: Prior,
    created: tuple[Created, ...] = (),
    left: tuple[tuple[P, Stamp], ...] | None = None,
) -> StepRecord:
    return StepRecord(
        index=7, stage="t", effect=effect, prior=prior, created=created, left=left
    )


def test_a_mkdir_that_kept_a_directory_has_nothing_to_undo() -> None:
    # Renaming found a directory there: kept, nothing left, and the staging entry
    # removed before the step was done.
    record = _record(
        MakeDir(path=P("k/d"), mode=0o755),
        DirPrior(existed=False, staging=STAGING),
        created=(Created(path=P("k/d"), dev=1, ino=99),),
        left=(),
    )
    assert inverse_of(record) == ()


def test_only_an_unfinished_step_s_staging_entry_is_removed() -> None:
    effect = MakeDir(path=P("k/d"), mode=0o755)
    prior = DirPrior(existed=False, staging=STAGING)
    made = attrs.evolve(FILE, kind="dir", ino=99, mode=0o755, sha256=None)
    finished = _record(effect, prior, left=((P("k/d"), made),))
    assert [type(a) for a in inverse_of(finished)] == [RemoveEntry]
    unfinished = _record(
        effect, prior, created=(Created(path=P("k/d"), dev=1, ino=99),)
    )
    assert [type(a) for a in inverse_of(unfinished)] == [RemoveStaging, RemoveEntry]


def test_an_undo_of_one_change_needs_no_bracket_unlike_one_of_two() -> None:
    """``single_changes``: the undo of a chmod or of a chown over what the step
    left is one syscall; one of both, a restore, an unfinished step's, are not."""
    chowned = attrs.evolve(FILE, uid=1000, gid=1000)
    chmodded = attrs.evolve(FILE, mode=0o600)
    both = attrs.evolve(FILE, uid=1000, mode=0o600)
    setuid = attrs.evolve(FILE, mode=0o4755)

    def meta(old: Stamp, left: Stamp | None) -> SetMeta:
        return SetMeta(path=PATH, old=old, guard=Guard(dev=1, ino=10, left=left))

    assert single_changes(meta(FILE, chowned))
    assert single_changes(meta(FILE, chmodded))
    assert not single_changes(meta(FILE, both))
    assert not single_changes(meta(setuid, attrs.evolve(setuid, uid=1000)))
    assert not single_changes(meta(FILE, None))  # unfinished: any state
    restore = RestoreFile(
        path=PATH, saved=SAVED, old=FILE, guard=Guard(dev=1, ino=10, left=FILE)
    )
    assert not single_changes(restore)
    assert single_changes(RemoveStaging(path=PATH))


def test_an_unfinished_create_removes_only_the_entry_it_announced() -> None:
    record = _record(
        WRITE,
        FilePrior(old=None, saved=None, staging=STAGING),
        created=(Created(path=PATH, dev=1, ino=42),),
    )
    staged, removal = inverse_of(record)
    assert staged == RemoveStaging(path=PATH.with_name(STAGING))
    assert removal == RemoveEntry(
        path=PATH, guard=Guard(dev=1, ino=42, left=None), directory=False
    )
    guard = removal.guard
    assert judge_removal(guard, None) == "nothing"
    assert judge_removal(guard, FILE) == "nothing"  # inode 10: not its own
    assert judge_removal(guard, attrs.evolve(FILE, ino=42)) == "proceed"


def test_a_finished_create_is_removed_only_while_it_is_what_the_step_left() -> None:
    left = attrs.evolve(FILE, ino=42, sha256=OTHER)
    guard = Guard(dev=1, ino=42, left=left)
    assert judge_removal(guard, left) == "proceed"
    edited = attrs.evolve(left, sha256=DIGEST)
    assert judge_removal(guard, edited) == Changed(
        "its content is not what the apply wrote"
    )
    replaced = attrs.evolve(left, ino=43)
    assert isinstance(judge_removal(guard, replaced), Changed)
    chmodded = attrs.evolve(left, mode=0o600)
    assert judge_removal(guard, chmodded) == Changed("its mode is 0o600, not 0o644")


def test_an_in_place_change_that_never_happened_needs_no_undo() -> None:
    # A write refused on an immutable file: the path is still as before.
    action = RestoreFile(
        path=PATH, saved=SAVED, old=FILE, guard=Guard(dev=1, ino=10, left=None)
    )
    assert judge_in_place(action, FILE) == "nothing"
    meta = SetMeta(path=PATH, old=FILE, guard=Guard(dev=1, ino=10, left=None))
    assert judge_in_place(meta, attrs.evolve(FILE, sha256=None)) == ("nothing")


def test_an_in_place_change_is_put_back_only_over_what_the_step_left() -> None:
    left = attrs.evolve(FILE, sha256=OTHER)
    action = RestoreFile(
        path=PATH, saved=SAVED, old=FILE, guard=Guard(dev=1, ino=10, left=left)
    )
    assert judge_in_place(action, left) == "proceed"
    assert judge_in_place(action, None) == Changed("it is gone")
    edited = attrs.evolve(left, sha256="c" * 64)
    assert isinstance(judge_in_place(action, edited), Changed)


def test_an_unmount_undoes_only_the_step_s_own_mount() -> None:
    assert judge_unmount(Unmount(path=P("k"), dev_before=5, mounted=9), 5) == "nothing"
    assert judge_unmount(Unmount(path=P("k"), dev_before=5, mounted=9), 9) == "proceed"
    assert judge_unmount(Unmount(path=P("k"), dev_before=5, mounted=None), 8) == (
        "proceed"  # an unfinished mount: what changed the device was the step
    )
    assert isinstance(
        judge_unmount(Unmount(path=P("k"), dev_before=5, mounted=9), 8), Changed
    )


@pytest.mark.parametrize(
    "left",
    [
        (),
        ((P("k/a"), Stamp(kind="dir", dev=1, ino=2, mode=0o755, uid=0, gid=0)),),
        (
            (
                P('k/é "quoted"\\\n'),
                Stamp(
                    kind="file", dev=3, ino=4, mode=0o4755, uid=1, gid=2, sha256=DIGEST
                ),
            ),
            (P("k/b.img"), Stamp(kind="file", dev=5, ino=6, mode=0o600, uid=0, gid=0)),
        ),
    ],
)
def test_the_done_line_is_the_left_codec_s_encoding(left: Left) -> None:
    # done_line formats its bytes directly (the hot path); the codec stays the truth
    line = done_line(7, 0.000012, left)
    assert line.endswith(b"\n")
    assert orjson.loads(line) == {
        "kind": "done",
        "index": 7,
        "seconds": 0.000012,
        "left": encode_left(left),
    }


@pytest.mark.parametrize(
    "seconds", [0.0, 3e-7, 0.000012, 0.5, 1.0, 12.345678901, 86400.25]
)
def test_the_done_line_gives_the_seconds_to_the_nanosecond(seconds: float) -> None:
    written = orjson.loads(done_line(1, seconds, ()))["seconds"]
    assert isinstance(written, float)
    assert abs(written - seconds) <= 0.5e-9 + 1e-15 * seconds


@pytest.mark.parametrize(
    "path", [P("k/a"), P('k/é "quoted"\\\n'), P("k/" + "d/" * 300 + "f")]
)
def test_the_created_line_is_the_created_codec_s_encoding(path: P) -> None:
    # created_line formats its bytes directly too; encode_created is the truth
    created = Created(path=path, dev=2**63 - 1, ino=12345)
    line = created_line(9, created)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "kind": "created",
        "index": 9,
        **encode_created(created),
    }
