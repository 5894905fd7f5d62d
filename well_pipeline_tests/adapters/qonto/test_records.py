"""Parsing rules of Qonto supplier invoice records (pure, no server)."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from well_pipeline.adapters.qonto.records import (
    KNOWN_FIELDS,
    Money,
    RecordParseError,
    RejectedRecord,
    SupplierInvoice,
    parse_record,
    parse_supplier_invoice,
)
from well_pipeline_tests.support.qonto_records import make_invoice


def test_factory_record_has_only_known_fields() -> None:
    invoice = parse_supplier_invoice(make_invoice())
    assert invoice.unknown_fields == ()
    assert set(make_invoice()) <= KNOWN_FIELDS


def test_amounts_are_exact_decimals() -> None:
    raw = make_invoice(total_amount={"value": "0.10", "currency": "EUR"},
                       payable_amount={"value": "1234567890.995", "currency": "usd"})
    invoice = parse_supplier_invoice(raw)
    assert invoice.total_amount == Money(Decimal("0.10"), "EUR")
    assert str(invoice.total_amount.amount) == "0.10"  # trailing zero kept: no float round-trip
    assert invoice.payable_amount == Money(Decimal("1234567890.995"), "USD")


@pytest.mark.parametrize("bad", [22.1, "22,10", "1e3", "NaN", "", "12.3.4", True])
def test_malformed_amount_becomes_rejected_record(bad: object) -> None:
    raw = make_invoice(total_amount={"value": bad, "currency": "EUR"})
    result = parse_record(raw)
    assert isinstance(result, RejectedRecord)
    assert "total_amount" in result.reason and "decimal string" in result.reason
    assert result.record_id == raw["id"]
    assert json.loads(result.raw_text)["id"] == raw["id"]


def test_bad_currency_rejected() -> None:
    with pytest.raises(RecordParseError) as info:
        parse_supplier_invoice(make_invoice(total_amount={"value": "1.00", "currency": "EURO"}))
    assert info.value.field == "total_amount"


def test_offset_timestamps_converted_to_utc_across_day_boundary() -> None:
    raw = make_invoice()
    raw["created_at"] = "2026-03-15T01:30:00+02:00"  # 23:30 UTC on the previous day
    raw["updated_at"] = "2026-03-14T23:59:59.123Z"
    invoice = parse_supplier_invoice(raw)
    assert invoice.created_at == datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
    assert invoice.created_at.tzinfo is UTC
    assert invoice.created_at.date() == date(2026, 3, 14)
    assert invoice.updated_at == datetime(2026, 3, 14, 23, 59, 59, 123000, tzinfo=UTC)


def test_negative_offset_and_nanoseconds() -> None:
    raw = make_invoice()
    raw["created_at"] = "2026-12-31T22:00:00.123456789-05:00"
    invoice = parse_supplier_invoice(raw)
    assert invoice.created_at == datetime(2027, 1, 1, 3, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2026-03-14T09:30:00", "2026-03-14", "yesterday", 1710408600, "2026-13-01T00:00:00Z"])
def test_naive_or_malformed_timestamps_rejected(bad: object) -> None:
    raw = make_invoice()
    raw["created_at"] = bad
    result = parse_record(raw)
    assert isinstance(result, RejectedRecord)
    assert "created_at" in result.reason


def test_missing_id_or_created_at_rejected() -> None:
    raw = make_invoice()
    del raw["id"]
    result = parse_record(raw)
    assert isinstance(result, RejectedRecord) and result.record_id is None and "id" in result.reason
    raw = make_invoice()
    raw["created_at"] = None
    assert isinstance(parse_record(raw), RejectedRecord)


def test_missing_updated_at_falls_back_to_created_at() -> None:
    raw = make_invoice()
    del raw["updated_at"]
    invoice = parse_supplier_invoice(raw)
    assert invoice.updated_at == invoice.created_at


def test_null_ocr_fields() -> None:
    raw = make_invoice(supplier_name=None, invoice_number=None, total_amount=None, payable_amount=None,
                       due_date=None, issue_date=None, iban=None, vat_number=None, file_name=None,
                       has_duplicates=None)
    invoice = parse_supplier_invoice(raw)
    assert invoice.supplier_name is None and invoice.invoice_number is None
    assert invoice.total_amount is None and invoice.payable_amount is None
    assert invoice.due_date is None and invoice.issue_date is None and invoice.iban is None
    assert invoice.has_duplicates is None
    # A money object whose value OCR could not read is also "no amount", not an error.
    assert parse_supplier_invoice(make_invoice(total_amount={"value": None, "currency": "EUR"})).total_amount is None


def test_business_dates() -> None:
    invoice = parse_supplier_invoice(make_invoice(issue_date="2024-02-29", due_date="2024-03-31"))
    assert invoice.issue_date == date(2024, 2, 29) and invoice.due_date == date(2024, 3, 31)
    assert isinstance(parse_record(make_invoice(due_date="2023-02-29")), RejectedRecord)
    assert isinstance(parse_record(make_invoice(due_date="31/03/2024")), RejectedRecord)


def test_unknown_fields_kept_and_reported() -> None:
    raw = make_invoice(brand_new_field={"x": 1}, another="y")
    invoice = parse_supplier_invoice(raw)
    assert isinstance(invoice, SupplierInvoice)
    assert invoice.unknown_fields == ("another", "brand_new_field")
    assert invoice.raw["brand_new_field"] == {"x": 1}


def test_unicode_preserved_and_whitespace_stripped() -> None:
    nfd = unicodedata.normalize("NFD", "Société Générale")
    nfc = unicodedata.normalize("NFC", "Société Générale")
    raw = make_invoice(supplier_name=f"  {nfd}\t\n", invoice_number="INV\x00-1 ")
    invoice = parse_supplier_invoice(raw)
    assert invoice.supplier_name == nfd and invoice.supplier_name != nfc  # no normalisation
    assert invoice.invoice_number == "INV\x00-1"  # control character kept, only outer whitespace stripped
    assert invoice.raw["supplier_name"] == f"  {nfd}\t\n"  # raw exactly as received


def test_wrong_types_rejected_not_coerced() -> None:
    assert isinstance(parse_record(make_invoice(invoice_number=12345)), RejectedRecord)
    assert isinstance(parse_record(make_invoice(is_credit_note="false")), RejectedRecord)
    assert isinstance(parse_record(["not", "an", "object"]), RejectedRecord)


def test_repr_does_not_dump_raw() -> None:
    invoice = parse_supplier_invoice(make_invoice(description="very long " * 100))
    assert "very long" not in repr(invoice)
