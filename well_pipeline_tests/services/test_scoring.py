"""`services/scoring.py` on real storage, without Dagster: what it reads, decides, keeps and reports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from well_pipeline.adapters.melio import read_vendor_directory
from well_pipeline.adapters.storage import DuckDBStorage, Storage
from well_pipeline.adapters.storage.records import StoredAttachment
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.services import review
from well_pipeline.services.scoring import score_dates, stale_dates
from well_pipeline_tests.support.review_queue import record, store_invoices

DAY1, DAY2 = date(2026, 3, 14), date(2026, 3, 15)
VENDORS = ("Company Name;Vendor ID;IBAN;VAT Number\n"
           "Papeterie Dupont SARL;V-1;FR7630006000011234567890189;FR40303265045\n"
           "Nordlicht Logistik GmbH;V-2;;\n")


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """Three invoices with their documents: Dupont's (known), an unknown supplier's, and one on the next day."""
    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    raws = [record("inv-dupont", invoice_number="F-1")[0],
            record("inv-unknown", hours=1, invoice_number="Z-1", supplier_name="Zeta Quantum Widgets Ltd",
                   iban=None, vat_number=None)[0],
            record("inv-next-day", hours=30, invoice_number="F-2")[0]]
    store_invoices(storage, raws)
    storage.invoices.record_attachments([
        StoredAttachment(raw["attachment_id"], f"{n:064x}", 2048, "application/pdf", "invoice.pdf", f"{n}.pdf")
        for n, raw in enumerate(raws)])
    return storage


def load_vendors(storage: Storage, tmp_path: Path) -> None:
    csv = tmp_path / "vendors.csv"
    csv.write_text(VENDORS, encoding="utf-8")
    storage.melio.replace_vendors(read_vendor_directory(csv))


def decisions(storage: Storage) -> dict[str, tuple[str, str | None]]:
    page = storage.matches.queue(decisions=["auto_link", "review", "refused", "manual_link", "already_in_melio"])
    return {e.qonto_id: (e.decision, e.vendor_id) for e in page.entries}


def test_scores_the_days_keeps_the_rows_and_reports(storage: Storage, tmp_path: Path) -> None:
    load_vendors(storage, tmp_path)
    lines: list[str] = []
    report = score_dates(storage, [DAY1, DAY1], ScoringPolicy(), log=lines.append)

    assert (report.invoices, report.vendors, report.ledger_bills) == (2, 2, 0)
    assert decisions(storage) == {"inv-dupont": ("auto_link", "V-1"), "inv-unknown": ("refused", None)}
    assert sum(report.decisions.values()) == 2 and report.decisions["auto_link"] == 1
    assert report.hard_rules["NO_CANDIDATE"] == 1 and report.overrides_applied == 0
    assert [m.qonto_id for m in report.matches] == ["inv-dupont", "inv-unknown"]
    assert lines[0] == "Scoring 2 invoices against 2 Melio vendors and 0 ledger bills"
    assert lines[-1].startswith("scoring: 2/2 invoices, auto_link 1, refused 1 · 100% · done in ")


def test_a_person_s_decision_survives_rescoring_and_teaches(storage: Storage, tmp_path: Path) -> None:
    load_vendors(storage, tmp_path)
    score_dates(storage, [DAY1], ScoringPolicy())
    review.pin(storage, "inv-unknown", "V-2", author="ana")
    report = score_dates(storage, [DAY1], ScoringPolicy())
    assert report.overrides_applied == 1
    assert decisions(storage)["inv-unknown"] == ("manual_link", "V-2")

    # The pin taught V-2's supplier name: the next day's invoice from that supplier resolves to V-2.
    store_invoices(storage, [record("inv-zeta-2", hours=31, invoice_number="Z-2", supplier_name="Zeta Quantum "
                                    "Widgets Ltd", iban=None, vat_number=None)[0]])
    score_dates(storage, [DAY2], ScoringPolicy())
    assert decisions(storage)["inv-zeta-2"][1] == "V-2"
    known = storage.matches.details("inv-zeta-2")
    assert known is not None and "KNOWN_NAME" in {r.code for r in known.entry.reasons}


def test_stale_dates_new_records_and_a_newer_melio_export(tmp_path: Path) -> None:
    # No documents here: a document stored in the same second as the scoring would make its day stale too
    # (stored times have whole seconds; a tie counts as stale, the safe side).
    storage = DuckDBStorage(tmp_path / "well.duckdb", tmp_path / "attachments")
    store_invoices(storage, [record("inv-1")[0], record("inv-2", hours=30, invoice_number="F-2")[0]])
    assert stale_dates(storage) == [DAY1, DAY2]  # never scored
    lines: list[str] = []
    score_dates(storage, [DAY1, DAY2], ScoringPolicy(), log=lines.append)
    assert "The Melio vendor directory is empty" in lines[1]
    assert set(decisions(storage).values()) == {("refused", None)}
    assert stale_dates(storage) == []  # no Melio export loaded yet: nothing newer than the scores
    load_vendors(storage, tmp_path)
    assert stale_dates(storage) == [DAY1, DAY2]  # scored before the export: a new vendor can change them
