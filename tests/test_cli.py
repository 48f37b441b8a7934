"""The command line: outputs, formats and exit codes (0 ok, 1 refused, 2 different)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import pytest

from effects import CreateContainer, decode, decode_tree, thaw_object

from .commands import ROOT, kplan
from .contexts import document
from .executing import has_dropbear


def context_file(
    tmp_path: Path, changes: dict[str, object] | None = None, *, dropbear: bool = True
) -> Path:
    doc = document(**(changes or {}))
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    doc["local_config"]["container"]["scratch_root"] = str(root)
    # a new kernel needs dropbear (legacy's krunner mounts raise without it); the
    # host key is generated only where the tool is there
    doc["facts"]["runner"]["has_dropbear"] = dropbear and has_dropbear()
    path = tmp_path / "ctx.json"
    path.write_bytes(orjson.dumps(doc))
    return path


def test_plan_prints_text_and_writes_a_valid_plan_file(tmp_path: Path) -> None:
    ctx = context_file(tmp_path)
    done = kplan("plan", str(ctx), "-o", str(tmp_path / "plan.json"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("plan ")
    assert "mkdir 11111111-2222-4333-8444-555555555555/config" in done.stdout
    plan = decode((tmp_path / "plan.json").read_bytes()).unwrap()
    assert plan.header.plan_id in done.stdout


def test_plan_shows_the_container_steps_with_their_whole_body(tmp_path: Path) -> None:
    done = kplan("plan", str(context_file(tmp_path)))
    assert done.returncode == 0, done.stderr
    plan = decode(kplan("plan", str(context_file(tmp_path)), "--format", "json").stdout)
    steps = plan.unwrap().steps
    (create,) = [s.effect for s in steps if isinstance(s.effect, CreateContainer)]
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "create-container" in line)
    body_lines = []
    for line in lines[start + 1 :]:
        if line[:3].strip().isdigit():  # the next step
            break
        body_lines.append(line)
    assert orjson.loads("\n".join(body_lines)) == thaw_object(create.config)
    for later in ("append-container-id", "start-container", "verify-container"):
        assert later in done.stdout
    assert "known only when the plan is applied" in done.stdout


def test_plan_json_is_the_canonical_encoding(tmp_path: Path) -> None:
    ctx = context_file(tmp_path)
    first, second = (
        kplan("plan", str(ctx), "--format", "json"),
        kplan("plan", str(ctx), "--format", "json"),
    )
    assert first.stdout == second.stdout
    assert decode(first.stdout).unwrap().steps


def test_expect_json_is_a_tree(tmp_path: Path) -> None:
    done = kplan("expect", str(context_file(tmp_path)), "--format", "json")
    assert done.returncode == 0, done.stderr
    tree = decode_tree(done.stdout).unwrap()
    assert any(str(path).endswith("/work/.bashrc") for path, _ in tree.entries)


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [("dot", "digraph plan"), ("mermaid", "graph TD"), ("json", '"edges"')],
)
def test_graph_formats(tmp_path: Path, fmt: str, marker: str) -> None:
    done = kplan("graph", str(context_file(tmp_path)), "--format", fmt)
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout
    assert "->" in done.stdout or "-->" in done.stdout or '"edges": [' in done.stdout


def test_refused_input_exits_1_listing_every_problem(tmp_path: Path) -> None:
    ctx = context_file(
        tmp_path,
        {
            "kernel_config.internal_data.dotfiles": [
                {"path": "/etc/shadow", "perm": "644", "data": ""},
                {"path": "x", "perm": "999", "data": ""},
            ]
        },
    )
    done = kplan("expect", str(ctx), "--format", "json")
    assert done.returncode == 1
    assert "2 problems" in done.stderr
    fields = {e["field"] for e in orjson.loads(done.stdout)["errors"]}
    assert fields == {
        "kernel_config.internal_data.dotfiles[0].path",
        "kernel_config.internal_data.dotfiles[1].perm",
    }


def test_an_ill_typed_context_names_the_field(tmp_path: Path) -> None:
    ctx = context_file(tmp_path, {"kernel_config.uid": "root"})
    done = kplan("plan", str(ctx))
    assert done.returncode == 1
    assert "kernel_config.uid" in done.stderr


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    done = kplan("plan", str(tmp_path / "nope.json"))
    assert done.returncode == 1
    assert "nope.json" in done.stderr


def test_unknown_quirks_are_rejected(tmp_path: Path) -> None:
    done = kplan("plan", str(context_file(tmp_path)), "--quirk", "faster")
    assert done.returncode == 2  # argparse's usage error
    assert "invalid choice" in done.stderr


def test_dry_run_reports_every_step_without_touching_the_root(tmp_path: Path) -> None:
    ctx = context_file(tmp_path)
    done = kplan("apply", str(ctx), "--scratch-only", "--dry-run", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["dry_run"] is True
    assert {step["outcome"] for step in report["steps"]} == {"modelled"}
    assert list((tmp_path / "root").iterdir()) == []


def test_snapshot_of_a_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("hi")
    (tmp_path / "d" / "l").symlink_to("f")
    done = kplan("snapshot", str(tmp_path / "d"), "--format", "json")
    entries = {e["path"]: e for e in orjson.loads(done.stdout)}
    assert entries["f"]["size"] == 2
    assert entries["l"]["type"] == "symlink"
    assert kplan("snapshot", str(tmp_path / "missing")).returncode == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="LOUD SKIP: apply chowns: needs root")
def test_apply_snapshot_expect_diff_and_rollback(tmp_path: Path) -> None:
    # With dropbear the tree has a host key: snapshot and expect both leave its
    # content out, so the two documents are still byte for byte the same.
    ctx = context_file(tmp_path, {"kernel_config.uid": 2001}, dropbear=has_dropbear())
    expected = kplan("expect", str(ctx), "--format", "json").stdout
    journal = tmp_path / "journal.jsonl"
    applied = kplan("apply", str(ctx), "--scratch-only", "--journal", str(journal))
    assert applied.returncode == 0, applied.stderr
    snapshot = kplan("snapshot", str(tmp_path / "root"), "--format", "json").stdout
    assert snapshot == expected
    assert kplan("diff", str(ctx), "--against", str(tmp_path / "root")).returncode == 0
    bashrc = next((tmp_path / "root").glob("*/work/.bashrc"))
    bashrc.chmod(0o600)
    changed = kplan("diff", str(ctx), "--against", str(tmp_path / "root"))
    assert changed.returncode == 2
    assert "mode" in changed.stdout
    assert "work/.bashrc" in changed.stdout
    bashrc.chmod(0o644)
    undone = kplan("rollback", str(journal))
    assert undone.returncode == 0, undone.stderr
    assert list((tmp_path / "root").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="LOUD SKIP: apply chowns: needs root")
def test_apply_names_the_effect_in_the_way_and_changes_nothing(tmp_path: Path) -> None:
    ctx = context_file(tmp_path)
    kernel = tmp_path / "root" / "11111111-2222-4333-8444-555555555555"
    (kernel / "work").mkdir(parents=True)
    (kernel / "work" / ".zshrc").mkdir()  # a directory where a file goes
    before = kplan("snapshot", str(tmp_path / "root"), "--format", "json").stdout
    done = kplan("apply", str(ctx), "--scratch-only", "--journal", str(tmp_path / "j"))
    assert done.returncode == 1
    assert "work/.zshrc" in done.stderr
    assert "rollback complete" in done.stderr
    assert (
        kplan("snapshot", str(tmp_path / "root"), "--format", "json").stdout == before
    )


def test_the_demo_says_clearly_when_legacy_cannot_run(tmp_path: Path) -> None:
    env = {
        "KPLAN_LEGACY_VENV": str(tmp_path / "no-venv"),
        "KPLAN_LEGACY_PYTHON": str(tmp_path / "no-python3.13"),
    }
    done = kplan("demo", env=env)
    assert done.returncode == 0, done.stderr
    assert "== its plan" in done.stdout
    assert "legacy comparison NOT run: no Python 3.13 found" in done.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="LOUD SKIP: drops to nobody: needs root")
def test_an_unreadable_directory_is_one_line_not_a_traceback() -> None:
    # As root every directory is readable: run kplan as nobody, in a directory
    # nobody can reach (pytest's tmp_path is private to root).
    with tempfile.TemporaryDirectory() as holder:
        base = Path(holder)
        base.chmod(0o755)
        (base / "root" / "secret").mkdir(parents=True)
        (base / "root" / "secret").chmod(0o000)
        for args in (
            ("diff", "sample", "--against", str(base / "root")),
            ("snapshot", str(base / "root")),
        ):
            done = _as_nobody(*args, home=base)
            assert done.returncode == 1, done.stderr
            assert "Traceback" not in done.stderr
            assert done.stderr.count("\n") == 1, done.stderr
            assert f"{base}/root/secret" in done.stderr
            assert "Permission denied" in done.stderr


def _as_nobody(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # nobody's own HOME: facts gathering reads ~/.config/backend.ai (§14.4 step 7)
    env = {
        "KPLAN_RUNNER_DIR": str(ROOT / "kplan" / "samples" / "runner"),
        "HOME": str(home),
    }
    return subprocess.run(
        [*nobody, sys.executable, "-m", "kplan", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **env},
    )
