"""Reader for `melio/vendors.csv`, the Melio vendor directory the supplier matcher scores against.

Why lenient per value: a vendor with a mistyped IBAN or e-mail can still be matched by name, so those
values are dropped with a warning instead of losing the vendor. Only a row with no company name (nothing
to match) or a repeated vendor id (which row is right?) is skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from well_pipeline.adapters.melio.csv_rows import CsvLoad, CsvSchema, RowIssue, read_table

__all__ = [
    "VENDOR_SCHEMA",
    "MelioVendor",
    "check_iban",
    "derive_vendor_id",
    "read_vendor_directory",
]

VENDOR_SCHEMA = CsvSchema(
    file_label="melio/vendors.csv",
    description="Melio vendor directory",
    required=("company_name",),
    optional=("vendor_id", "email", "iban", "vat_number"),
)


@dataclass(frozen=True, slots=True)
class MelioVendor:
    """One vendor of the directory, with values normalised for matching.

    `vendor_id` is Melio's id when the export has one, else derived by `derive_vendor_id` ("csv:..."). `iban`
    is compact upper case and passed the mod-97 check; `email` is lower case; `vat_number` is upper case
    without spaces or dots; `company_name` is as given (NFC, invisible characters removed). `line` is where
    the row starts in the file. `conflict` says how later rows with the same `vendor_id` disagree with this one
    on its identifiers (IBAN, VAT number): until the export is fixed, that vendor's invoices are held
    (VENDOR_DIRECTORY_CONFLICT), since nobody can tell which bank details Melio really holds.
    """

    vendor_id: str
    company_name: str
    email: str | None
    iban: str | None
    vat_number: str | None
    line: int
    conflict: str | None = None


def derive_vendor_id(company_name: str, iban: str | None, vat_number: str | None) -> str:
    """A stable id for a row without `vendor_id`: "csv:" + sha1(normalised name, IBAN, VAT)[:12].

    Why: match results and review decisions need a key that is the same on every run for the same vendor.
    It hashes content, not the line number, so re-sorting the export keeps it; it changes when the name
    (case and spacing aside), IBAN or VAT number is edited. The parts are joined with a unit separator so
    ("AB", "C") and ("A", "BC") differ. It is not a Melio id: never send it to Melio.
    """
    name = " ".join(company_name.casefold().split())
    key = "\x1f".join((name, iban or "", vat_number or ""))
    return "csv:" + hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_IBAN_DIGITS = {ord(c): str(i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def check_iban(raw: str) -> tuple[str | None, str | None]:
    """Return (normalised IBAN, None) or (None, why it was refused), per ISO 13616 mod-97."""
    iban = "".join(raw.split()).upper()
    if not _IBAN_SHAPE.fullmatch(iban):
        return None, "is not shaped like an IBAN (2 letters, 2 check digits, 11-30 letters or digits)"
    if int((iban[4:] + iban[:4]).translate(_IBAN_DIGITS)) % 97 != 1:
        return None, "fails the checksum"
    return iban, None


def _mask_iban(raw: str) -> str:
    # Issues end up in run logs; an IBAN is personal data for a sole trader. The line number locates it.
    compact = "".join(raw.split())
    return f"{compact[:4]}...{compact[-4:]}" if len(compact) > 12 else compact


def read_vendor_directory(path: Path) -> CsvLoad[MelioVendor]:
    """Load the vendor directory; bad rows are reported, never fatal (see the module docstring)."""
    table = read_table(path, VENDOR_SCHEMA)
    vendors: list[MelioVendor] = []
    errors = list(table.errors)
    warnings: list[RowIssue] = []
    first_line: dict[str, int] = {}
    kept_at: dict[str, int] = {}
    for line, cells in table.rows:
        name = cells["company_name"]
        if not name:
            errors.append(RowIssue(path, line, "company_name is empty; row skipped"))
            continue
        row_warnings: list[str] = []
        iban = None
        if raw_iban := cells.get("iban"):
            iban, problem = check_iban(raw_iban)
            if problem:
                row_warnings.append(f"iban '{_mask_iban(raw_iban)}' {problem}; kept the vendor without it")
        email = None
        if raw_email := cells.get("email"):
            if _EMAIL.fullmatch(raw_email):
                email = raw_email.lower()
            else:
                row_warnings.append(f"email {raw_email!r} is not an e-mail address; kept the vendor without it")
        vat = "".join(cells.get("vat_number", "").split()).replace(".", "").upper() or None

        given_id = cells.get("vendor_id", "")
        vendor_id = given_id or derive_vendor_id(name, iban, vat)
        if (first := first_line.get(vendor_id)) is not None:
            what = (f"duplicate vendor_id {vendor_id!r}" if given_id else
                    f"duplicate row: same company_name, iban and vat_number (derived id {vendor_id!r})")
            kept = vendors[kept_at[vendor_id]]
            disagree = [label for label, ours, theirs in
                        (("IBAN", kept.iban, iban), ("VAT number", kept.vat_number, vat))
                        if (ours or theirs) and ours != theirs]
            if disagree:
                conflict = (f"the Melio export lists vendor {vendor_id} on lines {first} and {line} with different "
                            f"{' and '.join(disagree)}: fix the export")
                vendors[kept_at[vendor_id]] = replace(kept, conflict=kept.conflict or conflict)
                errors.append(RowIssue(path, line, f"{what} as line {first} with a different {' and '.join(disagree)}"
                                       f"; kept line {first} and hold this vendor's invoices "
                                       "(VENDOR_DIRECTORY_CONFLICT) until the export is fixed"))
            else:
                errors.append(RowIssue(path, line, f"{what} as line {first}; kept line {first}, skipped this row"))
            continue
        first_line[vendor_id] = line
        kept_at[vendor_id] = len(vendors)
        if row_warnings:
            warnings.extend(RowIssue(path, line, message) for message in row_warnings)
        vendors.append(MelioVendor(vendor_id, name, email, iban, vat, line))

    errors.sort(key=lambda issue: issue.line)  # shape errors from read_table come first otherwise
    return CsvLoad(vendors, errors, warnings, list(table.notes), path, table.sha256)
