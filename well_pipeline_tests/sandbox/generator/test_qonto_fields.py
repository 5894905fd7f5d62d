"""Qonto's additional supplier-invoice fields (shared spec, issue 7): key order, shapes, and consistency with
the record's status and data."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from well_pipeline.sandbox.generator.documents import extract_text_lines

from .conftest import INVOICES, Dataset

EXTRA_KEYS = ["einvoicing_lifecycle_events", "supplier_id", "issuer_name", "self_invoice_id", "related_invoices",
              "request_transfer", "available_actions"]
ACTIONS = ("delete", "archive", "unarchive", "pay")


def _is_uuid4(value: Any) -> bool:
    return isinstance(value, str) and uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value


def _ts(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


def test_extra_keys_sit_between_e_invoice_type_and_meta(dataset: Dataset) -> None:
    for record in dataset.records:
        keys = list(record)
        start = keys.index("e_invoice_type") + 1
        assert keys[start:start + len(EXTRA_KEYS)] == EXTRA_KEYS
        assert keys[start + len(EXTRA_KEYS)] == "meta"


def test_lifecycle_events_only_on_e_invoices(dataset: Dataset) -> None:
    nulls = with_events = 0
    for record in dataset.records:
        events = record["einvoicing_lifecycle_events"]
        if events is None:
            nulls += 1
            continue
        if not record["is_einvoice"]:
            assert events == []
            continue
        assert 1 <= len(events) <= 3
        with_events += 1
        previous = None
        for event in events:
            assert list(event) == ["status_code", "reason", "reason_message", "timestamp"]
            assert isinstance(event["status_code"], str) and event["status_code"]
            assert (event["reason"] is None) == (event["reason_message"] is None)
            moment = _ts(event["timestamp"])
            assert previous is None or previous <= moment
            assert moment <= _ts(record["updated_at"])
            previous = moment
        if record["status"] not in ("rejected", "discarded"):
            assert all(event["reason"] is None for event in events)
    assert with_events > 0 and 0 < nulls < 0.05 * INVOICES


def test_issuer_name_is_the_legal_name_on_e_invoices_only(dataset: Dataset) -> None:
    vendors = dataset.vendor_by_id
    einvoices = 0
    for row, record in zip(dataset.truth, dataset.records, strict=True):
        if record["is_einvoice"]:
            einvoices += 1
            assert record["issuer_name"] == vendors[row["generator_vendor_id"]]["printed_name"]
        else:
            assert record["issuer_name"] is None
    assert einvoices > 0


def test_self_invoices_are_rare(dataset: Dataset) -> None:
    self_billed = [r for r in dataset.records if r["self_invoice_id"] is not None]
    assert 0 < len(self_billed) < 0.01 * INVOICES
    for record in self_billed:
        assert _is_uuid4(record["self_invoice_id"]) and not record["is_credit_note"]
        actions = record["available_actions"]
        if actions is not None:
            assert "linked_self_invoice" in actions["reasons"]["delete"] and not actions["delete"]


def test_related_invoices_point_from_credit_notes_to_earlier_invoices(dataset: Dataset) -> None:
    position = {r["id"]: i for i, r in enumerate(dataset.records)}
    by_id = {r["id"]: r for r in dataset.records}
    truth = dataset.truth_by_id
    linked = nulls = 0
    for i, record in enumerate(dataset.records):
        related = record["related_invoices"]
        if related is None:
            nulls += 1
            continue
        if not record["is_credit_note"]:
            assert related == []
            continue
        if not related:
            continue
        linked += 1
        (entry,) = related
        assert list(entry) == ["id", "invoice_number", "total_amount", "attachment_id", "file_name"]
        credited = by_id[entry["id"]]
        assert position[entry["id"]] < i and not credited["is_credit_note"]
        assert truth[entry["id"]]["generator_vendor_id"] == truth[record["id"]]["generator_vendor_id"]
        assert entry["attachment_id"] == credited["attachment_id"] and entry["file_name"] == credited["file_name"]
        assert entry["invoice_number"] == truth[entry["id"]]["document_invoice_number"]
        assert entry["total_amount"] == {"value": truth[entry["id"]]["document_total"],
                                         "currency": truth[entry["id"]]["document_currency"]}
        if record["file_name"].endswith(".pdf"):
            lines = extract_text_lines(dataset.attachment(record).read_bytes())
            assert f"Credited invoice: {entry['invoice_number']}" in lines
    assert linked >= 5 and 0 < nulls < 0.05 * INVOICES


def test_request_transfer_follows_the_status(dataset: Dataset) -> None:
    paid = Counter()
    for record in dataset.records:
        transfer = record["request_transfer"]
        if record["status"] in ("scheduled", "pending"):
            assert transfer is not None
        elif record["status"] != "paid":
            assert transfer is None
        else:
            paid[transfer is not None] += 1
        if transfer is not None:
            assert list(transfer) == ["id", "initiator_id"]
            assert _is_uuid4(transfer["id"]) and _is_uuid4(transfer["initiator_id"])
        if record["status"] != "paid":  # transfers and matched transactions stay on paid invoices only
            assert record["transfer_ids"] == [] and record["matched_transactions"] == []
    assert 0.35 < paid[True] / (paid[True] + paid[False]) < 0.65


def test_available_actions_agree_with_status_and_data(dataset: Dataset) -> None:
    nulls = 0
    payable = 0
    for record in dataset.records:
        actions = record["available_actions"]
        if actions is None:
            nulls += 1
            continue
        assert list(actions) == [*ACTIONS, "reasons"] and list(actions["reasons"]) == ["pay", "delete", "archive",
                                                                                        "unarchive"]
        for action in ACTIONS:
            assert actions[action] is (not actions["reasons"][action]), (action, actions)
        pay = actions["reasons"]["pay"]
        if record["status"] in ("paid", "rejected", "discarded", "archived", "scheduled", "pending"):
            assert "invalid_status" in pay
        assert ("missing_iban" in pay) == (record["iban"] is None)
        assert ("is_credit_note" in pay) == record["is_credit_note"]
        if record["total_amount"] is None or record["supplier_name"] is None:
            assert "missing_data" in pay
        assert actions["unarchive"] == (record["status"] == "archived")
        if record["status"] in ("paid", "scheduled", "pending"):
            assert not actions["delete"]
        payable += actions["pay"]
    assert payable > 0 and 0 < nulls < 0.05 * INVOICES
