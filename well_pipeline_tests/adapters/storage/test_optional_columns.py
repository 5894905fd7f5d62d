"""Migration 4: supplier_id, issuer_name and payment_links on `qonto_supplier_invoices`, written by the store
for new rows and backfilled from raw_json for rows an older Well stored (no re-sync needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from well_pipeline.adapters.qonto.records import SupplierInvoice, parse_supplier_invoice
from well_pipeline.adapters.storage import Database
from well_pipeline.adapters.storage.duckdb.database import utc_now
from well_pipeline.adapters.storage.duckdb.invoices import INVOICE_COLUMNS, DuckDBInvoiceStore, invoice_row
from well_pipeline.adapters.storage.duckdb.schema import MIGRATIONS
from well_pipeline.core.record_versions import fingerprint
from well_pipeline_tests.support.qonto_records import make_invoice

T0 = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
SUPPLIER = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b"
TX = "5e6f7a8b-9c0d-4e1f-8a3b-4c5d6e7f8091"
V3_COLUMNS = INVOICE_COLUMNS[:INVOICE_COLUMNS.index("last_changed_at") + 1]


def _without_new_keys(**overrides: Any) -> dict[str, Any]:
    """A record as Qonto served it before these fields appeared (and as older datasets hold it)."""
    raw = make_invoice(**overrides)
    for key in ("einvoicing_lifecycle_events", "supplier_id", "issuer_name", "self_invoice_id", "related_invoices",
                "request_transfer", "available_actions"):
        raw.pop(key, None)
    return raw


# Records whose columns the SQL backfill must derive exactly as the parser does.
CASES: dict[str, dict[str, Any]] = {
    "plain": make_invoice(),
    "old-shape": _without_new_keys(transfer_ids=[TX]),
    "all-links": make_invoice(supplier_id=SUPPLIER, issuer_name="Dupont SA",
                              request_transfer={"id": SUPPLIER, "initiator_id": SUPPLIER}, transfer_ids=[TX],
                              matched_transactions=[{"subject_id": "x", "subject_type": "SupplierInvoice",
                                                     "transaction_id": TX}]),
    "unicode-space": make_invoice(supplier_id=f"\u2003{SUPPLIER}\u00a0\n",
                                  issuer_name="\t Müller \"Söhne\" \\ GmbH\u3000"),
    "inner-space-kept": make_invoice(issuer_name="Dupont\n  et Fils"),
    "blank": make_invoice(supplier_id="", issuer_name=" \u2009 "),
    "wrong-types": make_invoice(supplier_id=123, issuer_name={"name": "x"}, matched_transactions=None,
                                transfer_ids=None),
    "empty-lists-as-null": make_invoice(supplier_id=[], issuer_name=[], request_transfer=[]),
    "malformed-links": make_invoice(request_transfer={}, transfer_ids=3, matched_transactions=[]),
    "ids-twin": make_invoice(matched_transactions=[], matched_transactions_ids=[TX]),
    "falsy-links": make_invoice(request_transfer=False, transfer_ids=0, matched_transactions=""),
}


def _parsed() -> dict[str, SupplierInvoice]:
    return {name: parse_supplier_invoice(dict(raw, id=name, created_at=(T0 + timedelta(minutes=n)).isoformat()))
            for n, (name, raw) in enumerate(CASES.items())}


def _columns(con) -> dict[str, tuple]:
    rows = con.execute("SELECT id, supplier_id, issuer_name, payment_links FROM qonto_supplier_invoices").fetchall()
    return {r[0]: (r[1], r[2], tuple(r[3]) if r[3] is not None else None) for r in rows}


def _expected(invoices: dict[str, SupplierInvoice]) -> dict[str, tuple]:
    return {i.id: (i.supplier_id, i.issuer_name, i.payment_links) for i in invoices.values()}


def test_cases_cover_every_outcome() -> None:
    # The differential tests below only prove something if the cases exercise values, Nones and each link.
    expected = _expected(_parsed())
    assert {e[0] for e in expected.values()} == {None, SUPPLIER}
    assert {e[1] for e in expected.values()} >= {None, "Dupont SA", "Müller \"Söhne\" \\ GmbH", "Dupont\n  et Fils"}
    links = {link for e in expected.values() for link in e[2]}
    assert links == {"request_transfer", "transfer_ids", "matched_transactions"}
    assert expected["malformed-links"][2] == ("request_transfer", "transfer_ids")
    assert expected["falsy-links"][2] == ("request_transfer", "transfer_ids", "matched_transactions")


def test_store_writes_the_new_columns_and_updates_them(tmp_path: Path) -> None:
    invoices = _parsed()
    database = Database(tmp_path / "well.duckdb")
    store = DuckDBInvoiceStore(database)
    store.upsert_invoices(list(invoices.values()))
    with database.connect() as con:
        assert _columns(con) == _expected(invoices)
    # Qonto later records a transfer request and the supplier: the new version carries both.
    raw = dict(invoices["plain"].raw, supplier_id=SUPPLIER, request_transfer={"id": TX, "initiator_id": TX},
               updated_at=(T0 + timedelta(days=1)).isoformat())
    assert store.upsert_invoices([parse_supplier_invoice(raw)]).changed == ["plain"]
    with database.connect() as con:
        assert _columns(con)["plain"] == (SUPPLIER, None, ("request_transfer",))


def _database_at_version_3(path: Path, monkeypatch: pytest.MonkeyPatch, invoices: list[SupplierInvoice]) -> None:
    """A database as Well before migration 4 left it: schema v3 and rows written in the v3 column set."""
    with monkeypatch.context() as patch:
        patch.setattr("well_pipeline.adapters.storage.duckdb.database.MIGRATIONS", [m for m in MIGRATIONS if m[0] <= 3])
        with Database(path).connect() as con:
            assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 3
            now = utc_now()
            rows = [invoice_row(i, fingerprint(i.raw), 1, now)[:len(V3_COLUMNS)] for i in invoices]
            con.executemany(f"INSERT INTO qonto_supplier_invoices ({', '.join(V3_COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(V3_COLUMNS))})", rows)
            columns = [r[0] for r in con.execute("DESCRIBE qonto_supplier_invoices").fetchall()]
            assert "payment_links" not in columns and "supplier_id" not in columns


def test_migration_backfills_a_version_3_database_like_the_parser(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    invoices = _parsed()
    path = tmp_path / "well.duckdb"
    _database_at_version_3(path, monkeypatch, list(invoices.values()))
    with Database(path).connect() as con:  # opening a writable connection migrates
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == MIGRATIONS[-1][0]
        assert _columns(con) == _expected(invoices)
        before = con.execute("SELECT * FROM qonto_supplier_invoices ORDER BY id").fetchall()
    # The next sync sees the same records: nothing is rewritten, and nothing needs to be.
    counts = DuckDBInvoiceStore(Database(path)).upsert_invoices(list(invoices.values()))
    assert sorted(counts.unchanged) == sorted(invoices) and not counts.changed
    with Database(path).connect() as con:
        assert con.execute("SELECT * FROM qonto_supplier_invoices ORDER BY id").fetchall() == before
    with Database(path).connect() as con:  # migrating again is a no-op
        assert con.execute("SELECT count(*) FROM schema_migrations WHERE version = 4").fetchone()[0] == 1
        assert _columns(con) == _expected(invoices)
