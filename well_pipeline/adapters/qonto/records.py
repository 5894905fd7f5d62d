"""Pure parsing of Qonto supplier invoice objects into typed, immutable records (no I/O).

Why a separate module: parsing rules are where Qonto's quirks live (decimal *strings* for amounts, offsets on
timestamps, nullable OCR fields, fields added without notice), and they deserve fast unit tests without a
server. The rules:

- Amounts `{value: "22.10", currency: "EUR"}` become `Money(Decimal, currency)`; a value that is not a
  decimal *string* is rejected (a float would already have lost precision upstream).
- Timestamps (`created_at`, `updated_at`) must carry an offset or `Z`; they are converted to UTC-aware
  datetimes. A naive timestamp is ambiguous and is rejected.
- Business dates are `YYYY-MM-DD`.
- OCR fields may be null; strings are stripped of surrounding whitespace only — never case-folded or
  unicode-normalised (NFC/NFD and control characters are preserved, in `raw` exactly as received).
- Unknown fields never fail a record: they are listed in `unknown_fields` so schema drift is reported while
  the data is kept.
- A record whose *core* fields are malformed becomes a `RejectedRecord` carrying the raw text and the
  reason, so one bad record never stops a sync and is never silently dropped.
- Qonto's optional auxiliary fields (supplier_id, issuer_name, payment evidence, e-invoicing events,
  available actions) are parsed leniently by `optional_fields`: a malformed value there becomes a line in
  `field_warnings`, never a rejection, because rejecting the invoice for it would lose a bill.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

from well_pipeline.adapters.qonto.optional_fields import AvailableActions, parse_optional_fields

__all__ = [
    "KNOWN_FIELDS",
    "AvailableActions",
    "Money",
    "RecordParseError",
    "RecordResult",
    "RejectedRecord",
    "SupplierInvoice",
    "parse_datetime_utc",
    "parse_record",
    "parse_supplier_invoice",
]

# Every field of the supplier invoice object seen in Qonto's docs, Postman collection and qontoctl
# (reference §3). Anything else is "unknown": kept, and reported as drift.
KNOWN_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "organization_id",
        "status",
        "source_type",
        "source",
        "attachment_id",
        "display_attachment_id",
        "file_name",
        "invoice_number",
        "supplier_name",
        "vat_number",
        "tin",
        "description",
        "iban",
        "total_amount",
        "total_amount_excluding_taxes",
        "total_tax_amount",
        "payable_amount",
        "total_amount_credit_notes",
        "taxes",
        "issue_date",
        "due_date",
        "payment_date",
        "scheduled_date",
        "created_at",
        "updated_at",
        "analyzed_at",
        "initiator_id",
        "declined_note",
        "is_einvoice",
        "e_invoice_type",
        "einvoicing_lifecycle_events",
        "supplier_id",
        "issuer_name",
        "self_invoice_id",
        "has_discrepancies",
        "has_duplicates",
        "is_credit_note",
        "has_suggested_credit_notes",
        "is_attachment_invoice",
        "is_attachment_non_financial",
        "attachment_category",
        "matched_transactions",
        "matched_transactions_ids",
        "transfer_ids",
        "request_transfer",
        "suggested_transactions",
        "related_invoices",
        "approval_workflow",
        "available_actions",
        "meta",
    }
)

_DECIMAL_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 3339 date-time (offset mandatory); a space instead of "T" is tolerated as RFC 3339 §5.6 allows.
_TIMESTAMP_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:?\d{2})$"
)


class RecordParseError(ValueError):
    """A known field of a record is malformed; `field` names it and `reason` says what is wrong."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class Money:
    """An exact amount in a currency (ISO 4217 code, upper case)."""

    amount: Decimal
    currency: str


@dataclass(frozen=True)
class SupplierInvoice:
    """One parsed Qonto supplier invoice; `raw` is the record exactly as received."""

    id: str
    organization_id: str | None
    status: str | None
    supplier_name: str | None
    invoice_number: str | None
    total_amount: Money | None
    payable_amount: Money | None
    issue_date: date | None
    due_date: date | None
    created_at: datetime
    updated_at: datetime
    attachment_id: str | None
    file_name: str | None
    iban: str | None
    vat_number: str | None
    has_duplicates: bool | None
    is_credit_note: bool | None
    is_attachment_non_financial: bool | None
    attachment_category: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, hash=False)
    unknown_fields: tuple[str, ...] = ()
    # Optional fields (see optional_fields.py): malformed values are reported in `field_warnings`.
    supplier_id: str | None = None  # Qonto's own supplier record: a stable counterparty key
    issuer_name: str | None = None  # legal name read from a structured e-invoice
    self_invoice_id: str | None = None
    related_invoice_ids: tuple[str, ...] = ()  # e.g. the invoice a credit note credits
    request_transfer_id: str | None = None
    transfer_ids: tuple[str, ...] = ()
    matched_transaction_ids: tuple[str, ...] = ()  # both wire variants and `matched_transactions_ids`
    einvoicing_events: tuple[str, ...] = ()  # lifecycle status codes, in Qonto's order
    available_actions: AvailableActions | None = None
    # Non-empty among "request_transfer", "transfer_ids", "matched_transactions", in that order: the invoice
    # is paid or being paid in Qonto (a malformed but non-empty value counts).
    payment_links: tuple[str, ...] = ()
    field_warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RejectedRecord:
    """A record that could not be parsed: its raw JSON text, why, and its id when one could be read."""

    raw_text: str
    reason: str
    record_id: str | None = None


RecordResult: TypeAlias = SupplierInvoice | RejectedRecord


# ---- field parsers --------------------------------------------------------------------------------------


def _opt_str(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordParseError(f"expected a string, got {type(value).__name__}", name)
    return value.strip()


def _opt_bool(raw: dict[str, Any], name: str) -> bool | None:
    value = raw.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise RecordParseError(f"expected a boolean, got {type(value).__name__}", name)


def _opt_money(raw: dict[str, Any], name: str) -> Money | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordParseError(f"expected an object {{value, currency}}, got {type(value).__name__}", name)
    amount = value.get("value")
    if amount is None:
        # OCR could not read the amount; Qonto may send the object with a null value.
        return None
    if not isinstance(amount, str) or not _DECIMAL_RE.match(amount.strip()):
        raise RecordParseError(f"amount is not a decimal string: {amount!r:.40}", name)
    try:
        decimal_amount = Decimal(amount.strip())
    except InvalidOperation:  # pragma: no cover - the regex already guarantees a valid literal
        raise RecordParseError(f"amount is not a decimal string: {amount!r:.40}", name) from None
    currency = value.get("currency")
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency.strip()):
        raise RecordParseError(f"currency is not a 3-letter ISO code: {currency!r:.20}", name)
    return Money(decimal_amount, currency.strip().upper())


def _opt_date(raw: dict[str, Any], name: str) -> date | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise RecordParseError(f"expected a YYYY-MM-DD date, got {value!r:.40}", name)
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise RecordParseError(f"not a valid calendar date: {value!r:.40}", name) from None


def parse_datetime_utc(value: Any, name: str = "timestamp") -> datetime:
    """Parse an RFC 3339 timestamp with offset into a UTC-aware datetime (raises RecordParseError)."""
    if not isinstance(value, str) or not _TIMESTAMP_RE.match(value.strip()):
        raise RecordParseError(f"expected an RFC 3339 timestamp with offset, got {value!r:.40}", name)
    text = value.strip()
    # datetime.fromisoformat keeps at most microseconds; trim nanosecond digits rather than fail.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordParseError(f"not a valid timestamp: {value!r:.40}", name) from None
    if parsed.tzinfo is None:  # pragma: no cover - the regex requires an offset
        raise RecordParseError("timestamp has no UTC offset", name)
    return parsed.astimezone(UTC)


# ---- record parsers -------------------------------------------------------------------------------------


def parse_supplier_invoice(raw: dict[str, Any]) -> SupplierInvoice:
    """Parse one supplier invoice object; raises RecordParseError when a known field is malformed.

    `updated_at` falls back to `created_at` when absent or null: a record never updated was last changed
    when it was created, and incremental syncs must still see it.
    """
    if not isinstance(raw, dict):
        raise RecordParseError(f"record is not a JSON object but {type(raw).__name__}")
    record_id = raw.get("id")
    if record_id is None or (isinstance(record_id, str) and not record_id.strip()):
        raise RecordParseError("missing id", "id")
    if not isinstance(record_id, str):
        raise RecordParseError(f"expected a string, got {type(record_id).__name__}", "id")
    if raw.get("created_at") is None:
        raise RecordParseError("missing created_at", "created_at")
    created_at = parse_datetime_utc(raw["created_at"], "created_at")
    updated_raw = raw.get("updated_at")
    updated_at = created_at if updated_raw is None else parse_datetime_utc(updated_raw, "updated_at")
    optional = parse_optional_fields(raw)
    return SupplierInvoice(
        id=record_id.strip(),
        organization_id=_opt_str(raw, "organization_id"),
        status=_opt_str(raw, "status"),
        supplier_name=_opt_str(raw, "supplier_name"),
        invoice_number=_opt_str(raw, "invoice_number"),
        total_amount=_opt_money(raw, "total_amount"),
        payable_amount=_opt_money(raw, "payable_amount"),
        issue_date=_opt_date(raw, "issue_date"),
        due_date=_opt_date(raw, "due_date"),
        created_at=created_at,
        updated_at=updated_at,
        attachment_id=_opt_str(raw, "attachment_id"),
        file_name=_opt_str(raw, "file_name"),
        iban=_opt_str(raw, "iban"),
        vat_number=_opt_str(raw, "vat_number"),
        has_duplicates=_opt_bool(raw, "has_duplicates"),
        is_credit_note=_opt_bool(raw, "is_credit_note"),
        is_attachment_non_financial=_opt_bool(raw, "is_attachment_non_financial"),
        attachment_category=_opt_str(raw, "attachment_category"),
        raw=raw,
        unknown_fields=tuple(sorted(key for key in raw if key not in KNOWN_FIELDS)),
        supplier_id=optional.supplier_id,
        issuer_name=optional.issuer_name,
        self_invoice_id=optional.self_invoice_id,
        related_invoice_ids=optional.related_invoice_ids,
        request_transfer_id=optional.request_transfer_id,
        transfer_ids=optional.transfer_ids,
        matched_transaction_ids=optional.matched_transaction_ids,
        einvoicing_events=optional.einvoicing_events,
        available_actions=optional.available_actions,
        payment_links=optional.payment_links,
        field_warnings=optional.warnings,
    )


def _raw_text(raw: Any) -> str:
    try:
        return json.dumps(raw, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(raw)


def parse_record(raw: Any) -> RecordResult:
    """Parse one list item; never raises: malformed records come back as `RejectedRecord`."""
    try:
        return parse_supplier_invoice(raw)
    except RecordParseError as exc:
        record_id = raw.get("id") if isinstance(raw, dict) else None
        return RejectedRecord(
            raw_text=_raw_text(raw),
            reason=str(exc),
            record_id=record_id.strip() if isinstance(record_id, str) and record_id.strip() else None,
        )
