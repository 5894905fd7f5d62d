"""The scoring inputs carry Qonto's optional supplier fields, the same from a parsed record and from a stored row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from well_pipeline.adapters.qonto.records import parse_supplier_invoice
from well_pipeline.adapters.storage import DuckDBStorage
from well_pipeline.core.scoring.model import InvoiceFacts
from well_pipeline.services.scoring_inputs import invoice_facts_from_record, invoice_facts_from_row
from well_pipeline_tests.support.qonto_records import make_invoice

T0 = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
SUPPLIER = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"
TX = "5e6f7a8b-9c0d-4e1f-8a3b-4c5d6e7f8091"

RECORDS: dict[str, dict[str, Any]] = {
    "plain": make_invoice(),  # source_type "email": a value, not an e-mail key
    "linked": make_invoice(supplier_id=SUPPLIER, issuer_name=" Dupont SA ", transfer_ids=[TX],
                           matched_transactions=[{"subject_id": "s", "subject_type": "SupplierInvoice",
                                                  "transaction_id": TX}]),
    "requested": make_invoice(request_transfer={"id": TX, "initiator_id": TX}),
    "with-email": make_invoice(supplier_email="ap@dupont.example"),
    "email-in-text": make_invoice(description='write to "email": ap@dupont.example'),
}


def _facts_both_ways(tmp_path: Path) -> tuple[dict[str, InvoiceFacts], dict[str, InvoiceFacts]]:
    invoices = [parse_supplier_invoice(dict(raw, id=name, created_at=(T0 + timedelta(minutes=n)).isoformat()))
                for n, (name, raw) in enumerate(RECORDS.items())]
    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    storage.invoices.upsert_invoices(invoices)
    rows = storage.matches.scoring_inputs([T0.date()]).invoices  # the rows services/scoring.py reads
    from_rows = {row["id"]: invoice_facts_from_row(row, None) for row in rows}
    from_records = {i.id: invoice_facts_from_record(i, None) for i in invoices}
    return from_rows, from_records


def test_record_facts_carry_supplier_id_issuer_name_and_payment_links(tmp_path: Path) -> None:
    _, facts = _facts_both_ways(tmp_path)
    assert facts["linked"].supplier_id == SUPPLIER and facts["linked"].issuer_name == "Dupont SA"
    assert facts["linked"].payment_links == ("transfer_ids", "matched_transactions")
    assert facts["requested"].payment_links == ("request_transfer",)
    assert facts["plain"].supplier_id is None and facts["plain"].payment_links == ()


def test_row_facts_equal_record_facts(tmp_path: Path) -> None:
    from_rows, from_records = _facts_both_ways(tmp_path)
    assert set(from_rows) == set(RECORDS)
    for qonto_id, expected in from_records.items():
        got = from_rows[qonto_id]
        assert isinstance(got.payment_links, tuple)
        assert (got.supplier_id, got.issuer_name, got.payment_links, got.supplier_email) == \
            (expected.supplier_id, expected.issuer_name, expected.payment_links, expected.supplier_email), qonto_id
        assert (got.supplier_name, got.iban, got.amount, got.currency, got.due_date) == \
            (expected.supplier_name, expected.iban, expected.amount, expected.currency, expected.due_date)


def test_supplier_email_is_read_from_stored_raw_json(tmp_path: Path) -> None:
    # The row mapper used to read a `raw` key the table does not have, so a stored e-mail was never seen.
    from_rows, _ = _facts_both_ways(tmp_path)
    assert from_rows["with-email"].supplier_email == "ap@dupont.example"
    assert from_rows["plain"].supplier_email is None
    assert from_rows["email-in-text"].supplier_email is None  # the key's text inside a value is not the key
