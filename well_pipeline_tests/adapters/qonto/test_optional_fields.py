"""Qonto's optional supplier-invoice fields (issue 7): typed when well formed, a warning (never a rejection)
when not, and payment evidence read conservatively."""

from __future__ import annotations

from typing import Any

import pytest

from well_pipeline.adapters.qonto.records import (
    KNOWN_FIELDS,
    AvailableActions,
    RejectedRecord,
    SupplierInvoice,
    parse_record,
    parse_supplier_invoice,
)
from well_pipeline_tests.support.qonto_records import make_invoice

SUPPLIER = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"
SELF_INVOICE = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
RELATED = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
TRANSFER = "3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f"
REQUEST = "4d5e6f7a-8b9c-4d0e-9f2a-3b4c5d6e7f80"
TX_A = "5e6f7a8b-9c0d-4e1f-8a3b-4c5d6e7f8091"
TX_B = "6f7a8b9c-0d1e-4f2a-9b4c-5d6e7f8091a2"
SPEC_KEYS = ["einvoicing_lifecycle_events", "supplier_id", "issuer_name", "self_invoice_id", "related_invoices",
             "request_transfer", "available_actions"]
PAYMENT_FIELDS = {"request_transfer": {"id": REQUEST, "initiator_id": SUPPLIER}, "transfer_ids": [TRANSFER],
                  "matched_transactions": [TX_A], "matched_transactions_ids": [TX_A]}


def parse(**overrides: Any) -> SupplierInvoice:
    result = parse_record(make_invoice(**overrides))
    assert isinstance(result, SupplierInvoice), result
    return result


def test_factory_carries_the_spec_keys_in_order_between_e_invoice_type_and_meta() -> None:
    keys = list(make_invoice())
    start = keys.index("e_invoice_type") + 1
    assert keys[start:start + len(SPEC_KEYS)] == SPEC_KEYS
    assert keys[start + len(SPEC_KEYS)] == "meta"
    assert set(SPEC_KEYS) <= KNOWN_FIELDS and {"matched_transactions_ids", "transfer_ids"} <= KNOWN_FIELDS
    invoice = parse_supplier_invoice(make_invoice())
    assert invoice.unknown_fields == () and invoice.field_warnings == () and invoice.payment_links == ()


def test_every_field_read_when_well_formed() -> None:
    invoice = parse(
        supplier_id=f" {SUPPLIER}\n",
        issuer_name="  Papeterie Dupont S.A.R.L. ",
        self_invoice_id=SELF_INVOICE,
        related_invoices=[{"id": RELATED, "invoice_number": "INV-1", "total_amount": {"value": "10.00",
                           "currency": "EUR"}, "attachment_id": SUPPLIER, "file_name": "inv-1.pdf"}],
        request_transfer={"id": REQUEST, "initiator_id": SUPPLIER},
        transfer_ids=[TRANSFER],
        matched_transactions=[TX_A],
        einvoicing_lifecycle_events=[
            {"status_code": "received", "reason": None, "reason_message": None, "timestamp": "2026-03-14T09:30:00Z"},
            {"status_code": "approved", "reason": "ok", "reason_message": "fine", "timestamp": "2026-03-15T09:30:00Z"},
        ],
        available_actions={"delete": False, "archive": True, "unarchive": False, "pay": False,
                           "reasons": {"pay": ["invalid_status", "missing_iban"], "delete": ["is_credit_note"],
                                       "archive": [], "unarchive": ["invalid_status"]}},
    )
    assert invoice.supplier_id == SUPPLIER
    assert invoice.issuer_name == "Papeterie Dupont S.A.R.L."
    assert invoice.self_invoice_id == SELF_INVOICE
    assert invoice.related_invoice_ids == (RELATED,)
    assert invoice.request_transfer_id == REQUEST
    assert invoice.transfer_ids == (TRANSFER,)
    assert invoice.matched_transaction_ids == (TX_A,)
    assert invoice.einvoicing_events == ("received", "approved")
    assert invoice.available_actions == AvailableActions(
        delete=False, archive=True, unarchive=False, pay=False, pay_reasons=("invalid_status", "missing_iban"),
        delete_reasons=("is_credit_note",), archive_reasons=(), unarchive_reasons=("invalid_status",))
    assert invoice.payment_links == ("request_transfer", "transfer_ids", "matched_transactions")
    assert invoice.field_warnings == ()


@pytest.mark.parametrize("key", SPEC_KEYS + ["transfer_ids", "matched_transactions", "matched_transactions_ids"])
@pytest.mark.parametrize("empty", [None, [], "absent"])
def test_null_empty_list_and_absent_all_mean_none(key: str, empty: object) -> None:
    raw = make_invoice(**PAYMENT_FIELDS)
    raw.pop(key)
    if empty != "absent":
        raw[key] = empty
    invoice = parse_supplier_invoice(raw)
    assert invoice.field_warnings == ()
    # Emptying request_transfer or transfer_ids drops that link; matched_transactions survives through its twin
    # key (matched_transactions / matched_transactions_ids carry the same id).
    expected_links = tuple(link for link in ("request_transfer", "transfer_ids", "matched_transactions")
                           if link != key or link == "matched_transactions")
    assert invoice.payment_links == expected_links
    assert invoice.supplier_id is None and invoice.issuer_name is None and invoice.available_actions is None


def test_null_empty_list_and_absent_all_mean_none_without_payment_fields() -> None:
    for empty in (None, []):
        invoice = parse(**{k: empty for k in [*SPEC_KEYS, "transfer_ids", "matched_transactions",
                                              "matched_transactions_ids"]})
        assert invoice.field_warnings == () and invoice.payment_links == ()
        assert invoice.transfer_ids == invoice.matched_transaction_ids == invoice.related_invoice_ids == ()
        assert invoice.einvoicing_events == () and invoice.request_transfer_id is None


def test_matched_transactions_both_variants_and_the_ids_list_merge_in_order() -> None:
    objects = [{"subject_id": "inv", "subject_type": "SupplierInvoice", "transaction_id": TX_B},
               {"subject_id": "inv", "subject_type": "SupplierInvoice", "transaction_id": TX_A}]
    assert parse(matched_transactions=objects).matched_transaction_ids == (TX_B, TX_A)
    assert parse(matched_transactions=[TX_A, TX_B]).matched_transaction_ids == (TX_A, TX_B)
    merged = parse(matched_transactions=objects[:1], matched_transactions_ids=[TX_B, TX_A])
    assert merged.matched_transaction_ids == (TX_B, TX_A)  # de-duplicated, first sighting first
    only_ids = parse(matched_transactions=[], matched_transactions_ids=[TX_A])
    assert only_ids.payment_links == ("matched_transactions",) and only_ids.field_warnings == ()


@pytest.mark.parametrize("field_name,link", [("request_transfer", "request_transfer"),
                                             ("transfer_ids", "transfer_ids"),
                                             ("matched_transactions", "matched_transactions"),
                                             ("matched_transactions_ids", "matched_transactions")])
def test_each_payment_field_alone_is_a_link(field_name: str, link: str) -> None:
    assert parse(**{field_name: PAYMENT_FIELDS[field_name]}).payment_links == (link,)


# Each malformed optional value: the warning's field, and whether a payment link still counts.
MALFORMED = [
    ({"supplier_id": 12345}, "supplier_id", ()),
    ({"issuer_name": {"name": "x"}}, "issuer_name", ()),
    ({"self_invoice_id": True}, "self_invoice_id", ()),
    ({"related_invoices": [{"invoice_number": "INV-1"}]}, "related_invoices[0].id", ()),
    ({"related_invoices": "INV-1"}, "related_invoices", ()),
    ({"einvoicing_lifecycle_events": [{"reason": "x"}, 7]}, "einvoicing_lifecycle_events[0].status_code", ()),
    ({"available_actions": "pay"}, "available_actions", ()),
    ({"available_actions": {"pay": "yes", "reasons": []}}, "available_actions.pay", ()),
    ({"available_actions": {"pay": True, "reasons": {"pay": "missing_iban"}}}, "available_actions.reasons.pay", ()),
    ({"request_transfer": {}}, "request_transfer.id", ("request_transfer",)),
    ({"request_transfer": "pending"}, "request_transfer", ("request_transfer",)),
    ({"transfer_ids": 3}, "transfer_ids", ("transfer_ids",)),
    ({"transfer_ids": [1, 2]}, "transfer_ids[0]", ("transfer_ids",)),
    ({"transfer_ids": [""]}, "transfer_ids[0]", ("transfer_ids",)),
    ({"matched_transactions": [{"subject_id": "inv"}]}, "matched_transactions[0].transaction_id",
     ("matched_transactions",)),
    ({"matched_transactions": {"transaction_id": TX_A}}, "matched_transactions", ("matched_transactions",)),
    ({"matched_transactions_ids": "x"}, "matched_transactions_ids", ("matched_transactions",)),
]


@pytest.mark.parametrize("overrides,warned_field,links", MALFORMED)
def test_malformed_optional_value_is_a_warning_not_a_rejection(overrides: dict, warned_field: str,
                                                               links: tuple[str, ...]) -> None:
    raw = make_invoice(**overrides)
    invoice = parse_record(raw)
    assert isinstance(invoice, SupplierInvoice)  # the bill is kept
    assert invoice.raw == raw
    assert any(w.startswith(f"{warned_field}: ") for w in invoice.field_warnings), invoice.field_warnings
    assert invoice.payment_links == links  # malformed but non-empty payment evidence still counts


def test_well_formed_parts_survive_next_to_malformed_ones() -> None:
    invoice = parse(transfer_ids=[TRANSFER, 5, None], supplier_id=SUPPLIER,
                    available_actions={"pay": False, "delete": 1, "reasons": {"pay": ["missing_iban", 3]}})
    assert invoice.transfer_ids == (TRANSFER,)
    assert invoice.supplier_id == SUPPLIER
    assert invoice.available_actions == AvailableActions(pay=False, pay_reasons=("missing_iban",))
    assert invoice.field_warnings == (
        "transfer_ids[1]: expected an id string, got int",
        "transfer_ids[2]: expected an id string, got null",
        "available_actions.reasons.pay[1]: expected an id string, got int",
        "available_actions.delete: expected a boolean, got int",
    )


def test_blank_identifiers_are_none_not_a_shared_key() -> None:
    invoice = parse(supplier_id="  ", issuer_name="\u00a0\t")
    assert invoice.supplier_id is None and invoice.issuer_name is None and invoice.field_warnings == ()


def test_warnings_name_types_not_values() -> None:
    invoice = parse(supplier_id=987654321987, issuer_name=["Secret Holding"])
    assert invoice.field_warnings == ("supplier_id: expected a string, got int",
                                      "issuer_name: expected a string, got list")
    assert "987654321987" not in repr(invoice.field_warnings) and "Secret" not in repr(invoice.field_warnings)


def test_malformed_core_field_still_rejects_the_record() -> None:
    result = parse_record(make_invoice(total_amount={"value": 12.5, "currency": "EUR"}, supplier_id=SUPPLIER,
                                       transfer_ids=[TRANSFER]))
    assert isinstance(result, RejectedRecord) and "total_amount" in result.reason
