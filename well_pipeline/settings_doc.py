"""The settings' documentation, generated from the model: the README tables and the text of `well settings`.

Why generated: a hand-kept table drifted from the code (4 rows differed). Now `settings.py` is the only place a
setting's name, variable, default and help text are written; this module renders them.

    python -m well_pipeline.settings_doc --write    # rewrite the README block between the markers
    python -m well_pipeline.settings_doc --check    # exit 1 when the README block is stale (a test does the same)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from well_pipeline.settings import SECTIONS, Settings
from well_pipeline.settings_rules import where_to_set

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- BEGIN settings: generated from well_pipeline/settings.py by `python -m well_pipeline.settings_doc " \
        "--write`; do not edit -->"
END = "<!-- END settings -->"


@dataclass(frozen=True)
class SettingDoc:
    """One setting as the docs show it."""

    name: str
    variable: str
    default: Any  # the value (a computed default: as computed now)
    shown_default: str  # the default for a reader: `true`, empty, or words for a computed one
    help: str


def _caption(section: type) -> str:
    return (section.__doc__ or section.__name__).strip().splitlines()[0]


def _doc(name: str, info: FieldInfo) -> SettingDoc:
    default = info.get_default(call_default_factory=True)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "shown_default" in extra:
        shown = str(extra["shown_default"])
    elif isinstance(default, bool):
        shown = f"`{str(default).lower()}`"  # as written in well.toml
    elif default == "":
        shown = "empty"
    else:
        shown = f"`{default}`"
    return SettingDoc(name, where_to_set(name)[1:], default, shown, info.description or "")


def sections() -> Iterator[tuple[str, list[SettingDoc]]]:
    """(caption, settings) per section, each setting once: in the first section declaring it (`data_dir` is in
    several sections so that each derived resource can resolve its paths)."""
    seen: set[str] = set()
    for section in SECTIONS:
        fresh = [name for name in section.model_fields if name not in seen]
        seen.update(fresh)
        yield _caption(section), [_doc(name, section.model_fields[name]) for name in fresh]


def readme_block() -> str:
    """The README's settings tables, between their markers."""
    lines = [BEGIN]
    for caption, docs in sections():
        lines += ["", f"**{caption}**", "", "| setting | environment variable | default | meaning |",
                  "|---|---|---|---|"]
        lines += [f"| `{d.name}` | `{d.variable}` | {d.shown_default} | {d.help.replace('|', '&#124;')} |"
                  for d in docs]
    return "\n".join([*lines, "", END])


def cli_text(current: Settings) -> str:
    """What `well settings` prints: every setting with its current value, its variable, default and meaning."""
    lines = []
    for caption, docs in sections():
        lines += [f"# {caption}"]
        for d in docs:
            lines += [f"{d.name} = {getattr(current, d.name)}    [{d.variable}; default {d.default}]",
                      f"    {d.help.replace('**', '')}"]
        lines += [""]
    return "\n".join(lines).rstrip("\n")


def replace_block(readme: str, block: str) -> str:
    """`readme` with its generated block replaced by `block`; refuses a README without exactly one block."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ValueError(f"README must hold the settings block once, from {BEGIN!r} to {END!r}")
    head, rest = readme.split(BEGIN, 1)
    return head + block + rest.split(END, 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the README block")
    action.add_argument("--check", action="store_true", help="exit 1 when the README block is stale")
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    wanted = replace_block(current, readme_block())
    if args.write:
        if wanted != current:
            README.write_text(wanted, encoding="utf-8")
        return 0
    if wanted != current:
        print(f"{README} settings block is stale: run python -m well_pipeline.settings_doc --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
