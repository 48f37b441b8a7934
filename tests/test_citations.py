"""Every section and hazard the code and docs cite resolves inside the repository.

``§n`` alone, or ``legacy-behaviour.md §n``, names a heading of
docs/legacy-behaviour.md; ``architecture.md §n`` names one of docs/architecture.md;
``Hn`` names a row of legacy-behaviour.md's hazard table (§16).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
SOURCES = (
    "effects",
    "planner",
    "executor",
    "legacy",
    "kplan",
    "tests",
    "property_tests",
)
# a citation wrapped at the document name, in prose or a comment, still names it
CITATION = re.compile(
    r"(?:(?P<doc>[a-z-]+)\.md(?: |[ \t]*\n[ \t]*(?:# ?)?))?"
    r"§ ?(?P<section>\d+(?:\.\d+)*)"
)
HAZARD = re.compile(r"\bH(?P<number>\d+)\b")
HEADING = re.compile(r"^#{2,4} (?P<number>\d+(?:\.\d+)*)\.? ", re.MULTILINE)
HAZARD_ROW = re.compile(r"^\| H(?P<number>\d+) \|", re.MULTILINE)


def _headings(name: str) -> set[str]:
    text = (DOCS / name).read_text()
    return {m.group("number") for m in HEADING.finditer(text)}


def _citing_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    for package in SOURCES:
        for suffix in ("*.py", "*.md", "*.json"):
            files += sorted((ROOT / package).rglob(suffix))
    return files


@pytest.mark.parametrize(
    ("text", "doc", "section"),
    [
        ("see architecture.md §3.1.", "architecture", "3.1"),
        # sections both documents have: this file is scanned too
        ("(architecture.md\n§2)", "architecture", "2"),
        ("    architecture.md\n    # §4 here", "architecture", "4"),
        ("legacy-behaviour.md § 12.4", "legacy-behaviour", "12.4"),
        ("as legacy does (§2 B14)", None, "2"),
        ("architecture.md\n\n§4", None, "4"),  # a paragraph apart: not its document
    ],
)
def test_citations_are_read_with_their_document(
    text: str, doc: str | None, section: str
) -> None:
    match = CITATION.search(text)
    assert match is not None
    assert (match.group("doc"), match.group("section")) == (doc, section)


def test_every_section_citation_resolves() -> None:
    targets = {
        None: _headings("legacy-behaviour.md"),
        "legacy-behaviour": _headings("legacy-behaviour.md"),
        "architecture": _headings("architecture.md"),
    }
    unresolved, seen = [], 0
    for path in _citing_files():
        for match in CITATION.finditer(path.read_text()):
            seen += 1
            doc, section = match.group("doc"), match.group("section")
            known = targets.get(doc)
            if known is None or section not in known:
                unresolved.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert seen > 100, "the scan found almost no citations: is the pattern right?"
    assert not unresolved, "\n".join(unresolved)


def test_every_hazard_citation_resolves() -> None:
    behaviour = (DOCS / "legacy-behaviour.md").read_text()
    hazards = {m.group("number") for m in HAZARD_ROW.finditer(behaviour)}
    assert {"1", "22", "35"} <= hazards
    unresolved = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in _citing_files()
        for match in HAZARD.finditer(path.read_text())
        if match.group("number") not in hazards
    ]
    assert not unresolved, "\n".join(unresolved)
