"""Melio adapters: readers for the two Melio CSV inputs, and the e-mail path that creates bills.

CSV readers (vendor directory, bill ledger) return a `CsvLoad` (good rows, row errors, row warnings, file
notes, path, sha256); a file that cannot be read at all raises `MelioCsvError` (or `FileNotFoundError`). See
csv_rows.py for the shared rules.

Bills go in by e-mail (Melio has no write API): `build_bill_email(BillEmail(...))` builds the message for one
invoice (bill_email.py) and `SmtpMailer.send` delivers it with an outcome that says whether a re-send is safe
(mailer.py).
"""

from well_pipeline.adapters.melio.bill_email import BillEmail, build_bill_email, validate_melio_address
from well_pipeline.adapters.melio.bills_csv import BILL_SCHEMA, MelioBill, read_ledger
from well_pipeline.adapters.melio.csv_rows import CsvLoad, CsvSchema, MelioCsvError, RowIssue
from well_pipeline.adapters.melio.mailer import (
    MailerAuthError,
    MailerError,
    MailerStats,
    MailerTlsError,
    SendResult,
    SmtpMailer,
)
from well_pipeline.adapters.melio.vendors_csv import (
    VENDOR_SCHEMA,
    MelioVendor,
    derive_vendor_id,
    read_vendor_directory,
)

__all__ = [
    "BILL_SCHEMA",
    "VENDOR_SCHEMA",
    "BillEmail",
    "CsvLoad",
    "CsvSchema",
    "MailerAuthError",
    "MailerError",
    "MailerStats",
    "MailerTlsError",
    "MelioBill",
    "MelioCsvError",
    "MelioVendor",
    "RowIssue",
    "SendResult",
    "SmtpMailer",
    "build_bill_email",
    "derive_vendor_id",
    "read_ledger",
    "read_vendor_directory",
    "validate_melio_address",
]
