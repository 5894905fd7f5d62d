"""docs/troubleshooting.md quotes messages the code really prints, and says for each what causes it and the fix.

Each entry's heading holds a fragment of one message, as the code writes it between the values it fills in. The
code's string literals are read with `ast` (adjacent literals joined, as Python joins them; every value an f-string
fills in becomes a separator), so a fragment matches only static text of one message, and rewording that message
fails this test until the page follows.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "well_pipeline"
DOC = ROOT / "docs" / "troubleshooting.md"
MIN_MESSAGES = 57  # what the page documents today: removing entries must be deliberate
_PLACEHOLDER = "\x00"  # where an f-string fills in a value: no fragment spans it
_HEADING = re.compile(r"^### `([^`]+)`$")


@dataclass(frozen=True)
class Entry:
    fragment: str
    body: list[str]

    def paragraph(self, label: str) -> str:
        """The text of the paragraph that starts with `label` (empty when there is none)."""
        for i, line in enumerate(self.body):
            if line.startswith(label):
                rest = [line.removeprefix(label)]
                for more in self.body[i + 1:]:
                    if not more.strip():
                        break
                    rest.append(more)
                return " ".join(part.strip() for part in rest).strip()
        return ""


def entries(text: str) -> list[Entry]:
    """Every `### ` entry of the page with its lines up to the next heading; a heading without a code span fails."""
    found: list[Entry] = []
    for line in text.splitlines():
        if line.startswith("### "):
            match = _HEADING.match(line)
            assert match, f"a troubleshooting heading must be one `message fragment`: {line!r}"
            found.append(Entry(match.group(1), []))
        elif line.startswith("## "):
            found.append(Entry("", []))  # a section heading ends the entry before it
        elif found:
            found[-1].body.append(line)
    return [entry for entry in found if entry.fragment]


@functools.cache
def source_strings() -> tuple[str, ...]:
    """The static text of every string literal in the production code (the sandboxes are not production)."""
    strings = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "sandbox":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                strings.append("".join(part.value if isinstance(part, ast.Constant) else _PLACEHOLDER
                                       for part in node.values))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.append(node.value)
    return tuple(strings)


def in_source(fragment: str) -> bool:
    return any(fragment in text for text in source_strings())


def test_every_listed_message_is_printed_by_the_code() -> None:
    missing = [e.fragment for e in entries(DOC.read_text(encoding="utf-8")) if not in_source(e.fragment)]
    assert not missing, f"docs/troubleshooting.md quotes messages the code no longer prints: {missing}"


def test_the_page_lists_the_messages_once_each() -> None:
    fragments = [e.fragment for e in entries(DOC.read_text(encoding="utf-8"))]
    assert len(fragments) >= MIN_MESSAGES
    assert len(set(fragments)) == len(fragments), "a message is listed twice"


def test_every_entry_shows_the_message_its_cause_and_its_fix() -> None:
    for entry in entries(DOC.read_text(encoding="utf-8")):
        assert any(line.startswith("> ") for line in entry.body), f"{entry.fragment!r}: no example message"
        for label in ("**Cause.**", "**Fix.**"):
            assert len(entry.paragraph(label).split()) >= 3, f"{entry.fragment!r}: no {label} paragraph"


def test_a_reworded_or_invented_message_is_not_found() -> None:
    assert in_source("no Well database at")
    assert not in_source("no Well database in")  # one word changed
    # Adjacent literals count as one string, as Python joins them ("...materialised yet" is split over two lines).
    assert in_source("melio_vendor_directory and melio_ledger are not materialised yet")
    # A fragment cannot span a value the code fills in: "{to} is after the current marker {current}: moving...".
    assert in_source("is after the current marker ")
    assert not in_source("is after the current marker : moving")


def test_entries_are_read_with_their_cause_and_fix() -> None:
    page = ("## A\n\n### `first message`\n\n> Error: first message\n\n**Cause.** it broke\nacross two lines.\n\n"
            "**Fix.** mend it now.\n\n## B\n\nText of B.\n\n### `second`\n\n**Cause.** too short\n")
    first, second = entries(page)
    assert first.fragment == "first message" and first.paragraph("**Cause.**") == "it broke across two lines."
    assert first.paragraph("**Fix.**") == "mend it now."
    assert "Text of B." not in first.body and second.paragraph("**Fix.**") == ""
