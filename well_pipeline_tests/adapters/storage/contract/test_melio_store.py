"""`MelioStore` contract: each export replaces the directory or ledger as a whole, values come back exactly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from well_pipeline.adapters.melio import read_ledger, read_vendor_directory
from well_pipeline.adapters.storage import Storage

DUPONT_IBAN = "FR7630006000011234567890189"
VENDORS = (
    "Company Name;Vendor ID;Email;IBAN;VAT Number\n"
    f"Papeterie Dupont SARL;V-1;Compta@Dupont.fr;{DUPONT_IBAN};FR40303265045\n"
    "Nordlicht Logistik GmbH;V-2;;;\n"
    ";V-3;;;\n"  # no company name: skipped by the reader, never stored
)
BILLS = ("bill_id,company_name,invoice_number,invoice_date,due_date,amount,currency,status\n"
         "MB-1,Papeterie Dupont,F-7,2026-01-01,2026-02-01,10.05,EUR,unpaid\n"
         "MB-2,Nordlicht,N-1,,,,,\n")


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_vendors_are_replaced_as_a_whole_and_read_back_exactly(storage: Storage, tmp_path: Path) -> None:
    assert storage.melio.vendors() == [] and storage.melio.latest_load_time() is None
    load = read_vendor_directory(_csv(tmp_path, "vendors.csv", VENDORS))
    storage.melio.replace_vendors(load)

    vendors = storage.melio.vendors()
    assert vendors == load.rows  # every field, in the export's order
    assert [v.vendor_id for v in vendors] == ["V-1", "V-2"]
    assert vendors[0].iban == DUPONT_IBAN and vendors[0].email == "compta@dupont.fr" and vendors[1].iban is None
    assert storage.melio.vendor_exists("V-2") and not storage.melio.vendor_exists("V-3")
    first_load = storage.melio.latest_load_time()
    assert first_load is not None

    storage.melio.replace_vendors(read_vendor_directory(_csv(tmp_path, "vendors.csv",
                                                             "Company Name;Vendor ID\nAcme;V-9\n")))
    assert [v.vendor_id for v in storage.melio.vendors()] == ["V-9"]  # V-1 and V-2 are gone
    assert not storage.melio.vendor_exists("V-1")
    assert storage.melio.latest_load_time() >= first_load


def test_a_vendor_conflict_is_kept(storage: Storage, tmp_path: Path) -> None:
    conflicting = VENDORS + "Papeterie Dupont SARL;V-1;;DE89370400440532013000;\n"
    load = read_vendor_directory(_csv(tmp_path, "vendors.csv", conflicting))
    assert load.rows[0].conflict  # the reader flags it; the store must keep it
    storage.melio.replace_vendors(load)
    assert storage.melio.vendors()[0].conflict == load.rows[0].conflict


def test_bills_keep_exact_amounts_and_dates_and_an_empty_export_empties_the_ledger(
        storage: Storage, tmp_path: Path) -> None:
    storage.melio.replace_bills(read_ledger(_csv(tmp_path, "bills.csv", BILLS)))
    bills = storage.melio.bills()
    assert [b.bill_id for b in bills] == ["MB-1", "MB-2"]
    first = bills[0]
    assert (first.invoice_number, first.invoice_date, first.due_date, first.currency, first.status) == \
        ("F-7", date(2026, 1, 1), date(2026, 2, 1), "EUR", "unpaid")
    assert isinstance(first.amount, Decimal) and first.amount == Decimal("10.05")  # never a float
    assert (bills[1].amount, bills[1].invoice_date, bills[1].currency) == (None, None, None)
    assert storage.melio.latest_load_time() is not None

    storage.melio.replace_bills(read_ledger(_csv(tmp_path, "bills.csv", BILLS.splitlines()[0] + "\n")))
    assert storage.melio.bills() == []
    assert storage.melio.vendors() == []  # the ledger never touches the directory
