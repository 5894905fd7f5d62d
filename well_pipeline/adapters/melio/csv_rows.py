"""Shared plumbing for the Melio CSV inputs: bytes -> text -> header map -> cleaned cells with line numbers.

Why one helper: both Melio files are hand-exported spreadsheets with the same failure modes (UTF-8 BOM,
Excel's cp1252 and semicolons, renamed headers, invisible characters pasted from web pages, stray quotes).
Handling them once keeps each reader about its own columns only.

Contract of `read_table`:
- A problem with the *file* (missing, undecodable, no header, missing or doubled required column, a quote
  never closed) raises: nothing would be trustworthy, and an unreadable vendor directory must never look
  like an empty one (every supplier would then look new).
- A problem with one *row* becomes a `RowIssue` and the other rows still load.
- Line numbers are the physical line where a row starts (header = line 1 in a normal file), so a quoted
  value spanning lines does not shift the numbers of the rows after it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Generic, TypeAlias, TypeVar

__all__ = [
    "CsvLoad",
    "CsvSchema",
    "MelioCsvError",
    "RawRow",
    "RowIssue",
    "Table",
    "clean_cell",
    "header_key",
    "read_table",
]

T = TypeVar("T")


class MelioCsvError(ValueError):
    """The file as a whole is unusable (undecodable, no header, missing required column, unclosed quote)."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True)
class RowIssue:
    """One problem on one row; `str()` is the line a person reads in a run report."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path.name} line {self.line}: {self.message}"


@dataclass(frozen=True)
class CsvLoad(Generic[T]):
    """What a reader returns: the good rows plus everything a person should see about the rest.

    `errors` are rows that were skipped, `warnings` rows kept with a value dropped, `notes` file-level
    remarks (encoding fallback, delimiter, ignored columns). `sha256` is of the raw bytes, so a run can
    record exactly which export it used.
    """

    rows: list[T]
    errors: list[RowIssue]
    warnings: list[RowIssue]
    notes: list[str]
    path: Path
    sha256: str


@dataclass(frozen=True)
class CsvSchema:
    """The columns of one file, plus the words used in messages about it."""

    file_label: str  # where the file lives in a dataset directory, e.g. "melio/vendors.csv"
    description: str  # what it is, e.g. "Melio vendor directory"
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def describe(self) -> str:
        return ", ".join([f"{c} (required)" for c in self.required] + list(self.optional))


# A data row: the line where it starts and its cleaned cells by canonical column ("" when empty). A plain
# tuple rather than a NamedTuple: building 100,000 of those costs more than the rest of the row handling.
RawRow: TypeAlias = tuple[int, dict[str, str]]


@dataclass(frozen=True)
class Table:
    """A decoded, header-mapped file; `errors` are rows already rejected for their shape."""

    path: Path
    sha256: str
    delimiter: str
    rows: list[RawRow]
    errors: list[RowIssue]
    notes: list[str]


# Invisible characters that break matching but carry no meaning in a name or id. Line-breaking controls
# become a space so "Acme<newline>GmbH" does not glue into "AcmeGmbH"; the others are dropped.
_ZERO_WIDTH = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff"
_DROP = re.compile(f"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f{_ZERO_WIDTH}]")
_TO_SPACE = re.compile("\r\n|[\t\n\r\x0b\x0c\x85\u2028\u2029]")
# The same, minus the CSV line breaks, for the whole text before parsing (see _scrub).
_TO_SPACE_IN_TEXT = re.compile("[\t\x0b\x0c\x85\u2028\u2029]")

_HEADER_SEPARATORS = re.compile(r"[\s_\-]+")


def clean_cell(value: str) -> str:
    """Strip surrounding whitespace, drop control and zero-width characters, NFC-normalise.

    NFC so that "é" typed on macOS (e + combining accent) equals the precomposed one from Windows; nothing
    is reported, because the text a person sees is unchanged.
    """
    if value.isascii() and value.isprintable():  # fast path: the vast majority of cells
        return value.strip()
    value = _DROP.sub("", _TO_SPACE.sub(" ", value))
    return unicodedata.normalize("NFC", value).strip()


def _scrub(text: str) -> str:
    """`clean_cell` for the whole decoded text at once, except line breaks the CSV parser still needs.

    Why: per-cell Python calls dominate the cost of a 100,000-row file; three C-level passes over the text
    do the same work. Safe for parsing: NFC never composes a comma, semicolon, quote or line break.
    """
    if _DROP.search(text):
        text = _DROP.sub("", text)
    if _TO_SPACE_IN_TEXT.search(text):
        text = _TO_SPACE_IN_TEXT.sub(" ", text)
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def header_key(name: str) -> str:
    """'Company Name', ' company_name ', 'COMPANY-NAME' -> 'company_name'."""
    return _HEADER_SEPARATORS.sub("_", clean_cell(name).casefold()).strip("_")


def read_table(path: Path, schema: CsvSchema) -> Table:
    """Read and decode `path`, map its header onto `schema`, and return cleaned rows with line numbers."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{schema.description} not found at {path.absolute()}: expected {schema.file_label}, "
            f"a CSV export with a header row of {schema.describe()}"
        ) from None
    notes: list[str] = []
    text = _scrub(_decode(path, raw, notes))
    delimiter = _detect_delimiter(text, schema)
    if delimiter == ";":
        notes.append(f"{path.name}: semicolon-delimited (European Excel export)")

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous_end = 0
    header: list[str] | None = None
    try:
        for cells in reader:
            previous_end = reader.line_num
            if "".join(cells).strip():
                header = cells
                break
        if header is None:
            raise MelioCsvError(path, f"is empty; expected a header row of {schema.describe()}")
        index = _map_header(path, schema, header, notes)

        width = len(header)
        names = tuple(index)
        # Always a tuple, even for a single wanted column.
        pick = itemgetter(*index.values()) if len(index) > 1 else lambda cells: (cells[index[names[0]]],)
        rows: list[RawRow] = []
        errors: list[RowIssue] = []
        start = previous_end + 1
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not "".join(cells).strip():  # blank line or delimiters only
                continue
            if len(cells) != width:
                if len(cells) > width:  # even if the extras are empty: "Acme, Inc,V-1,," shifts every column
                    errors.append(RowIssue(path, start, (
                        f"{len(cells)} values but the header has {width} columns "
                        f"(an unquoted '{delimiter}' inside a value?); row skipped")))
                    continue
                cells += [""] * (width - len(cells))
            # Only a row spanning lines can hold a line break; the rest of the cleaning was done by _scrub.
            clean = str.strip if previous_end == start else clean_cell
            rows.append((start, dict(zip(names, map(clean, pick(cells)), strict=True))))
    except csv.Error as exc:  # in lenient mode only a giant value: in practice a quote never closed
        raise MelioCsvError(path, (
            f"unreadable CSV in the row starting on line {previous_end + 1}: {exc} "
            "(a quote that is never closed?)")) from None

    if previous_end > start:  # the last row spans lines: make sure a stray quote did not swallow the rest
        _refuse_unclosed_quote(path, text, start, delimiter)
    return Table(path, hashlib.sha256(raw).hexdigest(), delimiter, rows, errors, notes)


def _decode(path: Path, raw: bytes, notes: list[str]) -> str:
    """UTF-8 (BOM optional); Windows-1252 only when the bytes are not UTF-8, which is what Excel writes."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise MelioCsvError(path, "is UTF-16 (Excel 'Unicode Text'); export it as 'CSV UTF-8' instead")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        where = f"byte 0x{raw[exc.start]:02x} on line {line}"
    body = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
    try:
        text = body.decode("cp1252")
    except UnicodeDecodeError:
        raise MelioCsvError(path, f"is neither UTF-8 ({where}) nor Windows-1252; export it as 'CSV UTF-8'") from None
    notes.append(f"{path.name}: not valid UTF-8 ({where}); read as Windows-1252")
    return text


def _detect_delimiter(text: str, schema: CsvSchema) -> str:
    """Comma, unless splitting the header on ';' recognises more of our columns (European Excel exports).

    Chosen by recognised column names rather than csv.Sniffer, which guesses unreliably on a header of one
    or two columns and can be fooled by commas inside company names.
    """
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    known = set(schema.columns)

    def recognised(delimiter: str) -> int:
        return sum(header_key(h) in known for h in next(csv.reader([first], delimiter=delimiter), []))

    return ";" if recognised(";") > recognised(",") else ","


def _map_header(path: Path, schema: CsvSchema, header: list[str], notes: list[str]) -> dict[str, int]:
    """Canonical column -> index; unknown columns are noted once, a doubled or missing one is fatal."""
    index: dict[str, int] = {}
    unknown: list[str] = []
    known = set(schema.columns)
    for i, name in enumerate(header):
        key = header_key(name)
        if key not in known:
            unknown.append(repr(name.strip()) if name.strip() else "(blank)")
        elif key in index:
            raise MelioCsvError(path, f"column {key} appears twice (columns {index[key] + 1} and {i + 1})")
        else:
            index[key] = i
    missing = [c for c in schema.required if c not in index]
    if missing:
        found = ", ".join(repr(h) for h in header)
        raise MelioCsvError(path, (
            f"missing required column(s) {', '.join(missing)}; {schema.description} ({schema.file_label}) "
            f"needs columns {schema.describe()}; found {found}"))
    if unknown:
        notes.append(f"{path.name}: ignored unknown column(s) {', '.join(unknown)}")
    return index


def _refuse_unclosed_quote(path: Path, text: str, start: int, delimiter: str) -> None:
    """The lenient csv reader turns an unclosed quote into one value running to end of file: refuse it."""
    tail = islice(io.StringIO(text, newline=""), start - 1, None)
    try:
        for _ in csv.reader(tail, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise MelioCsvError(path, (
                f"a quoted value starting on line {start} is never closed, so every line after it would be "
                "read as part of that value")) from None
