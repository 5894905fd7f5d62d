"""Readers for the two Melio CSV inputs: the vendor directory and the bill ledger.

Both return a `CsvLoad` (good rows, row errors, row warnings, file notes, path, sha256); a file that cannot
be read at all raises `MelioCsvError` (or `FileNotFoundError`). See csv_rows.py for the shared rules.
"""

from well_pipeline.adapters.melio.bills_csv import BILL_SCHEMA, MelioBill, read_ledger
from well_pipeline.adapters.melio.csv_rows import CsvLoad, CsvSchema, MelioCsvError, RowIssue
from well_pipeline.adapters.melio.vendors_csv import (
    VENDOR_SCHEMA,
    MelioVendor,
    derive_vendor_id,
    read_vendor_directory,
)

__all__ = [
    "BILL_SCHEMA",
    "VENDOR_SCHEMA",
    "CsvLoad",
    "CsvSchema",
    "MelioBill",
    "MelioCsvError",
    "MelioVendor",
    "RowIssue",
    "derive_vendor_id",
    "read_ledger",
    "read_vendor_directory",
]
