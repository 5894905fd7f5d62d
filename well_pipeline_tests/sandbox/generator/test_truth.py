"""The ground truth agrees with the records, the Melio files and itself."""

from __future__ import annotations

import re
from collections import Counter

from well_pipeline.sandbox.generator.truth import CASE_PRIORITY, TRUTH_COLUMNS

from .conftest import INVOICES, VENDORS, Dataset


def test_every_case_is_present_at_2000_invoices(dataset: Dataset) -> None:
    cases = Counter(row["case"] for row in dataset.truth)
    assert set(cases) == set(CASE_PRIORITY)
    assert cases == Counter(dataset.manifest["counts"]["cases"]) - Counter()  # manifest agrees (zeros dropped)
    assert cases["already_in_ledger"] == round(0.05 * INVOICES)
    assert cases["bank_detail_change"] == round(0.005 * INVOICES)
    # Over three years most invoices are paid or archived in Qonto: `settled` is the commonest primary case.
    assert cases["settled"] == max(cases.values()) and cases["settled"] > 0.5 * INVOICES
    assert cases["clean"] > 0.03 * INVOICES and cases["name_variant"] > 0.03 * INVOICES
    assert cases["unknown_homonym"] >= 3 and cases["trade_name"] >= 3
    assert list(dataset.truth[0].keys()) == list(TRUTH_COLUMNS)


def test_bank_detail_change_is_a_different_iban_and_never_auto_linked(dataset: Dataset) -> None:
    records = {r["id"]: r for r in dataset.records}
    melio = {row["vendor_id"]: row for row in dataset.melio_vendors}
    rows = [row for row in dataset.truth if row["case"] == "bank_detail_change"]
    assert rows
    for row in rows:
        vendor = dataset.vendor_by_id[row["true_vendor_id"]]
        record = records[row["qonto_id"]]
        assert row["must_not_auto_link"] == "true" and "iban_mismatch" in row["reason"].split(";")
        assert row["clean_known"] == "false" and row["safe_known"] == "false"
        assert record["iban"] is not None and record["iban"] != vendor["iban"]
        assert row["document_iban"] == record["iban"]
        # Melio knows the old IBAN, or none at all (test_hard_classes covers both kinds).
        assert melio[vendor["vendor_id"]]["iban"] in (vendor["iban"], "")


def test_ledger_bills_reference_real_invoices(dataset: Dataset) -> None:
    bills = {b["bill_id"]: b for b in dataset.bills}
    melio_names = {row["vendor_id"]: row["company_name"] for row in dataset.melio_vendors}
    in_ledger = [row for row in dataset.truth if row["in_melio_ledger"] == "true"]
    assert len(in_ledger) >= 0.05 * INVOICES
    for row in in_ledger:
        bill = bills[row["melio_bill_id"]]
        assert bill["invoice_number"] == row["document_invoice_number"]
        assert bill["company_name"] == melio_names[row["true_vendor_id"]]
        assert bill["amount"] == row["document_total"] and bill["currency"] == row["document_currency"]
        assert bill["invoice_date"] == row["document_issue_date"]
        assert "already_in_melio" in row["reason"] and row["must_not_auto_link"] == "true"
    referenced = {row["melio_bill_id"] for row in in_ledger}
    matching = [b for b in dataset.bills if b["bill_id"] in referenced]
    assert len(matching) == dataset.manifest["counts"]["melio_bills_matching_qonto"]


def test_unrelated_bills_never_collide_with_qonto_invoice_numbers(dataset: Dataset) -> None:
    referenced = {row["melio_bill_id"] for row in dataset.truth if row["melio_bill_id"]}
    qonto_keys = {(dataset.vendor_by_id[row["generator_vendor_id"]]["melio_company_name"],
                   row["document_invoice_number"]) for row in dataset.truth}
    unrelated = [b for b in dataset.bills if b["bill_id"] not in referenced]
    assert len(unrelated) >= 0.04 * INVOICES
    for bill in unrelated:
        assert (bill["company_name"], bill["invoice_number"]) not in qonto_keys


def test_melio_csv_formats(dataset: Dataset) -> None:
    assert list(dataset.melio_vendors[0].keys()) == ["company_name", "vendor_id", "email", "iban", "vat_number"]
    assert list(dataset.bills[0].keys()) == ["bill_id", "company_name", "invoice_number", "invoice_date", "due_date",
                                             "amount", "currency", "status"]
    assert 0.85 * VENDORS <= len(dataset.melio_vendors) <= 0.95 * VENDORS
    assert any(not row["email"] for row in dataset.melio_vendors)
    assert any(not row["iban"] for row in dataset.melio_vendors)
    assert any(not row["vat_number"] for row in dataset.melio_vendors)
    for row in dataset.melio_vendors:
        assert re.fullmatch(r"V-\d{6}", row["vendor_id"]) and row["company_name"]
        assert not row["email"] or re.fullmatch(r"[\w.]+@[\w.-]+\.[a-z.]+", row["email"])
    for bill in dataset.bills:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", bill["invoice_date"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", bill["due_date"]) and bill["due_date"] >= bill["invoice_date"]
        assert re.fullmatch(r"\d+\.\d{2}", bill["amount"])
        assert bill["status"] in {"unpaid", "scheduled", "paid"}
    ids = [b["bill_id"] for b in dataset.bills]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_verdicts_are_consistent(dataset: Dataset) -> None:
    records = {r["id"]: r for r in dataset.records}
    melio_ids = {row["vendor_id"] for row in dataset.melio_vendors}
    for row in dataset.truth:
        record = records[row["qonto_id"]]
        reasons = [r for r in row["reason"].split(";") if r]
        assert (row["must_not_auto_link"] == "true") == bool(reasons)
        assert (row["safe_known"] == "true") == (not reasons)
        assert row["clean_known"] == "false" or row["safe_known"] == "true"
        assert (row["true_vendor_id"] != "") == (row["vendor_in_directory"] == "true")
        assert (row["generator_vendor_id"] in melio_ids) == (row["vendor_in_directory"] == "true")
        if row["case"] in ("unknown_vendor", "unknown_homonym"):
            assert row["true_vendor_id"] == "" and "vendor_not_in_directory" in reasons
        if row["safe_known"] == "true":
            assert row["vendor_in_directory"] == "true"
            assert record["status"] in ("to_review", "to_approve", "awaiting_payment")
            for key in ("supplier_name", "invoice_number", "total_amount"):
                assert record[key] is not None
            assert not (record["has_duplicates"] or record["is_credit_note"] or record["is_attachment_non_financial"])
        if row["missing_fields"]:
            for key in row["missing_fields"].split(";"):
                assert record[key] is None
        if row["case"] == "credit_note":
            assert record["is_credit_note"] and "credit_note" in reasons
        if row["case"] == "non_financial":
            assert record["is_attachment_non_financial"]
        if row["case"] == "qonto_duplicate_flag":
            assert record["has_duplicates"]
        if row["case"] == "all_ocr_null":
            assert record["supplier_name"] is None and record["total_amount"] is None


def test_duplicate_invoices_repeat_an_earlier_vendor_and_number(dataset: Dataset) -> None:
    position = {row["qonto_id"]: i for i, row in enumerate(dataset.truth)}
    by_id = dataset.truth_by_id
    duplicates = [row for row in dataset.truth if row["case"] == "duplicate_invoice"]
    assert len(duplicates) >= 2
    for row in duplicates:
        first = by_id[row["duplicate_of"]]
        assert position[first["qonto_id"]] < position[row["qonto_id"]]
        assert first["generator_vendor_id"] == row["generator_vendor_id"]
        assert first["document_invoice_number"] == row["document_invoice_number"]
        assert first["attachment_id"] != row["attachment_id"]
        assert "duplicate_invoice" in row["reason"]
    # Apart from planned duplicates, (vendor, number) is unique.
    keys = Counter((row["generator_vendor_id"], row["document_invoice_number"]) for row in dataset.truth
                   if not row["duplicate_of"] and row["document_invoice_number"])
    assert max(keys.values()) == 1


def test_truth_vendors_cover_the_whole_population(dataset: Dataset) -> None:
    assert len(dataset.vendors_truth) == VENDORS
    in_melio = sum(v["in_melio"] == "true" for v in dataset.vendors_truth)
    assert in_melio == len(dataset.melio_vendors) == dataset.manifest["counts"]["vendors_in_melio"]
