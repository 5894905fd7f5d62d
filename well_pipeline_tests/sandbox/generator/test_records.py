"""Every invoice record has the Qonto object shape and internally consistent values."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from well_pipeline_tests.support.qonto_records import make_invoice

from .conftest import INVOICES, NOW, YEARS, Dataset

STATUSES = {"to_review", "to_approve", "awaiting_payment", "pending", "scheduled", "paid", "archived", "rejected",
            "discarded"}
MONEY_FIELDS = ("total_amount", "total_amount_excluding_taxes", "total_tax_amount", "payable_amount")
OFFSET_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0[12]:00$")
Z_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PARIS = ZoneInfo("Europe/Paris")


def _ts(text: str) -> datetime:
    assert OFFSET_FORM.match(text) or Z_FORM.match(text), text
    return datetime.fromisoformat(text)


def _money(obj: dict[str, str] | None) -> Decimal | None:
    if obj is None:
        return None
    assert set(obj) == {"value", "currency"}
    assert re.fullmatch(r"-?\d+\.\d{2}", obj["value"]), obj
    value = Decimal(obj["value"])
    assert value.as_tuple().exponent == -2
    return value


def test_every_record_has_exactly_the_contract_fields(dataset: Dataset) -> None:
    expected = list(make_invoice().keys())
    assert len(dataset.records) == INVOICES
    for record in dataset.records:
        assert list(record.keys()) == expected
        assert set(record["meta"]) == set(make_invoice()["meta"])


def test_ids_are_unique_uuid4_and_belong_to_the_organization(dataset: Dataset) -> None:
    org_id = dataset.organization["organization"]["id"]
    ids = [r["id"] for r in dataset.records]
    attachments = [r["attachment_id"] for r in dataset.records]
    assert len(set(ids)) == len(ids) and len(set(attachments)) == len(attachments)
    for record in dataset.records:
        for key in ("id", "attachment_id", "initiator_id"):
            assert uuid.UUID(record[key]).version == 4
        assert record["display_attachment_id"] == record["attachment_id"]
        assert record["organization_id"] == org_id
        assert record["status"] in STATUSES


def test_amounts_are_two_decimal_strings_that_add_up(dataset: Dataset) -> None:
    with_amounts = 0
    for record in dataset.records:
        values = [_money(record[f]) for f in MONEY_FIELDS]
        if record["total_amount"] is None:
            assert values == [None] * 4 and record["taxes"] == []
            continue
        with_amounts += 1
        total, net, tax, payable = values
        assert total == net + tax and payable == total and total > 0
        currencies = {record[f]["currency"] for f in MONEY_FIELDS}
        assert len(currencies) == 1 and currencies <= {"EUR", "USD", "GBP"}
        assert sum((_money(t["tax_amount"]) for t in record["taxes"]), Decimal("0.00")) == tax
        for t in record["taxes"]:
            rate = Decimal(t["tax_rate"])
            assert Decimal("0") < rate < Decimal("1") and re.fullmatch(r"0\.\d{2,3}", t["tax_rate"])
    assert with_amounts > 0.9 * INVOICES


def test_timestamps_are_ordered_inside_the_window_in_both_qonto_forms(dataset: Dataset) -> None:
    start = NOW - timedelta(days=365.25 * YEARS)
    forms = Counter()
    previous = start
    for record in dataset.records:
        created, updated, analyzed = (_ts(record[k]) for k in ("created_at", "updated_at", "analyzed_at"))
        assert start <= created <= NOW
        assert created <= analyzed <= updated <= NOW
        assert created >= previous  # the file is in creation order
        previous = created
        if record["created_at"].endswith("Z"):
            forms["z"] += 1
        else:
            forms["offset"] += 1
            # The offset is the real Europe/Paris offset at that instant.
            assert created.utcoffset() == created.astimezone(PARIS).utcoffset(), record["created_at"]
        if record["meta"]["accounting_recorded_at"] is not None:
            _ts(record["meta"]["accounting_recorded_at"])
    assert forms["z"] > 0.15 * INVOICES and forms["offset"] > 0.5 * INVOICES
    later = [r for r in dataset.records if _ts(r["updated_at"]) - _ts(r["created_at"]) > timedelta(days=30)]
    assert len(later) > 0.05 * INVOICES  # some records are updated much later


def test_records_sit_on_midnight_boundaries(dataset: Dataset) -> None:
    near_utc = near_paris = 0
    for record in dataset.records:
        moment = _ts(record["created_at"]).astimezone(UTC)
        for zone, bucket in ((UTC, "utc"), (PARIS, "paris")):
            local = moment.astimezone(zone)
            seconds = local.hour * 3600 + local.minute * 60 + local.second
            if min(seconds, 86400 - seconds) <= 90:
                if bucket == "utc":
                    near_utc += 1
                else:
                    near_paris += 1
    assert near_utc >= 10 and near_paris >= 10


def test_business_dates(dataset: Dataset) -> None:
    for record in dataset.records:
        for key in ("issue_date", "due_date", "payment_date", "scheduled_date"):
            assert record[key] is None or DATE_FORM.match(record[key]), (key, record[key])
        created_paris = _ts(record["created_at"]).astimezone(PARIS).date()
        if record["issue_date"]:
            issue = date.fromisoformat(record["issue_date"])
            assert issue <= created_paris
            if record["due_date"]:
                assert 0 <= (date.fromisoformat(record["due_date"]) - issue).days <= 60
        if record["status"] == "paid":
            assert record["payment_date"] is not None
            if record["issue_date"]:
                assert record["payment_date"] >= record["issue_date"]
        if record["status"] == "scheduled":
            assert record["scheduled_date"] is not None
        assert (record["declined_note"] != "") == (record["status"] == "rejected")


def test_status_mix_and_ocr_nulls_are_realistic(dataset: Dataset) -> None:
    statuses = Counter(r["status"] for r in dataset.records)
    assert set(statuses) == STATUSES
    assert statuses["paid"] == max(statuses.values())

    def null_rate(records: list[dict], key: str) -> float:
        return sum(r[key] is None for r in records) / max(1, len(records))

    invoices = [r for r in dataset.records if not r["is_attachment_non_financial"]]
    to_review = [r for r in invoices if r["status"] == "to_review"]
    others = [r for r in invoices if r["status"] != "to_review"]
    for key in ("supplier_name", "invoice_number", "due_date"):
        assert null_rate(to_review, key) > null_rate(others, key) > 0, key
    every_null = [r for r in dataset.records if all(
        r[k] is None for k in ("supplier_name", "invoice_number", "total_amount", "due_date", "iban", "vat_number"))]
    assert len(every_null) >= 0.01 * INVOICES


def test_flags_and_attachment_fields(dataset: Dataset) -> None:
    flags = Counter()
    for record in dataset.records:
        for flag in ("has_duplicates", "is_credit_note", "is_attachment_non_financial", "is_einvoice"):
            flags[flag] += record[flag]
        if record["is_attachment_non_financial"]:
            assert record["attachment_category"] == "OTHER_NON_FINANCIAL_DOCUMENT"
            assert not record["is_attachment_invoice"]
        assert record["e_invoice_type"] is None or record["is_einvoice"]
        ext = record["file_name"].rsplit(".", 1)[1]
        assert ext in {"pdf", "jpg", "png", "heic", "txt"}
        assert dataset.attachment(record).is_file()
    assert 0.005 * INVOICES <= flags["has_duplicates"] <= 0.02 * INVOICES
    assert 0.01 * INVOICES <= flags["is_credit_note"] <= 0.03 * INVOICES
    assert 0.005 * INVOICES <= flags["is_attachment_non_financial"] <= 0.02 * INVOICES
    assert flags["is_einvoice"] > 0
    formats = Counter(r["file_name"].rsplit(".", 1)[1] for r in dataset.records)
    assert 0.04 < (formats["jpg"] + formats["png"]) / INVOICES < 0.15


def test_supplier_names_are_a_mix_of_exact_names_and_variants(dataset: Dataset) -> None:
    kinds = Counter(row["supplier_name_kind"] for row in dataset.truth)
    named = kinds["exact"] + kinds["variant"]
    assert 0.35 < kinds["exact"] / named < 0.65
    vendors = dataset.vendor_by_id
    for row, record in zip(dataset.truth, dataset.records, strict=True):
        assert row["qonto_id"] == record["id"]
        canonical = vendors[row["generator_vendor_id"]]["canonical_name"]
        if row["supplier_name_kind"] == "exact":
            assert record["supplier_name"] == canonical
        elif row["supplier_name_kind"] == "variant":
            assert record["supplier_name"] != canonical and row["variant_ops"]
        elif row["supplier_name_kind"] == "null":
            assert record["supplier_name"] is None
