"""Melio inputs, `scored_matches`, the review queue and `well review`, end to end on real DuckDB and the sandbox."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from well_pipeline.cli.main import cli
from well_pipeline_tests.defs.conftest import DAY0, WellEnv, day_key, sample_invoices
from well_pipeline_tests.defs.pipeline_runs import checks, day_metadata, materialize_range, summary
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.workspace_defs import MELIO_VENDOR_DIRECTORY, QONTO_SUPPLIER_INVOICES, SCORED_MATCHES

DUPONT_IBAN = "FR7630006000011234567890189"  # make_invoice's default supplier IBAN
VENDORS_CSV = (
    "Company Name;Vendor ID;Email;IBAN;VAT Number\n"
    f"Papeterie Dupont SARL;V-1;compta@dupont.fr;{DUPONT_IBAN};FR40303265045\n"
    "Nordlicht Logistik GmbH;V-2;;;DE123456789\n"
    ";V-3;;;\n"  # a bad row: no company name; the rest still loads
)
BILLS_CSV = "bill_id,company_name,invoice_number,invoice_date,due_date,amount,currency,status\n" \
            "MB-1,Papeterie Dupont,F-LEDGER-7,2026-01-01,2026-02-01,10.00,EUR,unpaid\n"


def extra_invoices() -> list[dict]:
    return [
        make_invoice(invoice_id="inv-fraud", attachment_id="att-fraud", created_at=DAY0 + timedelta(hours=4),
                     iban="DE89370400440532013000", invoice_number="F-FRAUD"),
        make_invoice(invoice_id="inv-unknown", attachment_id="att-unknown", created_at=DAY0 + timedelta(hours=5),
                     supplier_name="Zeta Quantum Widgets Ltd", iban=None, vat_number=None, invoice_number="Z-1"),
        make_invoice(invoice_id="inv-ledger", attachment_id="att-ledger", created_at=DAY0 + timedelta(hours=6),
                     invoice_number="f ledger 7"),
    ]


def prepare(env: WellEnv, instance: dg.DagsterInstance) -> None:
    env.write(sample_invoices() + extra_invoices())
    melio = env.settings.data_path / "melio"
    melio.mkdir(parents=True, exist_ok=True)
    (melio / "vendors.csv").write_text(VENDORS_CSV, encoding="utf-8")
    (melio / "bills.csv").write_text(BILLS_CSV, encoding="utf-8")
    assert dg.materialize(list(env.ws.melio_assets), instance=instance).success


def score(env: WellEnv, instance: dg.DagsterInstance, *, ingest: bool = True) -> dg.ExecuteInProcessResult:
    """The pipeline step over days 0-2 in one run: ingest and scoring, or scoring alone (a rescore)."""
    assets = [QONTO_SUPPLIER_INVOICES, SCORED_MATCHES] if ingest else [SCORED_MATCHES]
    result = materialize_range(env, instance, day_key(0), day_key(2), assets=assets)
    assert result.success
    return result


def decisions(env: WellEnv) -> dict[str, tuple]:
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT qonto_id, decision, vendor_id, hard_rules, melio_bill_id FROM scored_matches").fetchall()}


def test_melio_exports_load_with_row_errors_named(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    prepare(well_env, instance)
    event = instance.get_latest_materialization_event(MELIO_VENDOR_DIRECTORY)
    metadata = event.asset_materialization.metadata
    assert metadata["rows"].value == 2
    assert metadata["rows_skipped"].value == 1
    assert "vendors.csv line 4" in metadata["issues"].value


def test_scoring_decides_explains_and_checks(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    prepare(well_env, instance)
    result = score(well_env, instance)
    rows = decisions(well_env)
    with duckdb.connect(str(well_env.settings.duckdb_path), read_only=True) as con:
        invoices = con.execute("SELECT count(*) FROM qonto_supplier_invoices").fetchone()[0]
    assert len(rows) == invoices  # exactly one row per stored invoice
    assert rows["inv-0-0"][:2] == ("auto_link", "V-1")
    assert rows["inv-fraud"][0] != "auto_link" and "BANK_DETAILS_CHANGED" in rows["inv-fraud"][2]
    assert rows["inv-unknown"][0] == "refused" and rows["inv-unknown"][1] is None
    assert rows["inv-null-ocr"][0] == "refused"
    assert rows["inv-ledger"][0] == "already_in_melio" and rows["inv-ledger"][3] == "MB-1"
    evaluated = {name: passed for name, passed in checks(result).items() if name in {
        "one_row_per_invoice", "scores_in_range", "no_auto_link_breaks_a_hard_rule"}}
    assert evaluated == {"one_row_per_invoice": True, "scores_in_range": True, "no_auto_link_breaks_a_hard_rule": True}
    meta = summary(result, SCORED_MATCHES)  # the scoring run's own figures
    assert meta["decision_refused"] >= 2 and meta["decision_already_in_melio"] == 1
    assert meta["invoices"] == invoices and meta["days_scored"] == 3
    # Each day's partition shows that day's own decisions, and they add up to the run's.
    days = day_metadata(result, SCORED_MATCHES)
    assert set(days) == {day_key(0), day_key(1), day_key(2)}
    with duckdb.connect(str(well_env.settings.duckdb_path), read_only=True) as con:
        per_day = dict(con.execute("SELECT strftime(created_date, '%Y-%m-%d'), count(*) FROM scored_matches "
                                   "GROUP BY 1").fetchall())
    assert {day: m["invoices"] for day, m in days.items()} == per_day
    for decision in ("auto_link", "refused", "already_in_melio", "review"):
        assert sum(m[f"decision_{decision}"] for m in days.values()) == meta[f"decision_{decision}"]
    assert days[day_key(0)]["decision_already_in_melio"] == 1  # inv-ledger was created on day 0

    queue = dg.materialize([well_env.ws.review_queue], instance=instance)
    queue_meta = queue.get_asset_materialization_events()[0].materialization.metadata
    assert queue_meta["refused"].value >= 2
    assert "inv-unknown" in {r.data["qonto_id"] for r in queue_meta["refused_queue"].value.records}
    # The changed bank account is a possible payment fraud: first in the queue, in the UI as in the CLI.
    assert queue_meta["queue"].value.records[0].data["qonto_id"] == "inv-fraud"
    assert meta["queue_preview"].records[0].data["flag"] == "possible payment fraud"


def test_review_cli_pin_survives_rematerialisation_and_teaches(
    well_env: WellEnv, instance: dg.DagsterInstance, monkeypatch
) -> None:
    prepare(well_env, instance)
    score(well_env, instance)
    env = {"WELL_DATA_DIR": str(well_env.settings.data_dir), "WELL_REVIEWER": "ana"}
    runner = CliRunner()

    listed = runner.invoke(cli, ["review", "list", "--all"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "inv-unknown" in listed.output

    shown = runner.invoke(cli, ["review", "show", "inv-fraud"], env=env)
    assert shown.exit_code == 0 and "BANK_DETAILS_CHANGED" in shown.output and "ranked alternatives" in shown.output

    bad = runner.invoke(cli, ["review", "pin", "inv-unknown", "--vendor", "V-404"], env=env)
    assert bad.exit_code != 0 and "unknown Melio vendor" in bad.output
    pinned = runner.invoke(cli, ["review", "pin", "inv-unknown", "--vendor", "V-2"], env=env)
    assert pinned.exit_code == 0, pinned.output
    refused = runner.invoke(cli, ["review", "refuse", "inv-fraud", "--reason", "IBAN not confirmed by phone"], env=env)
    assert refused.exit_code == 0, refused.output
    assert decisions(well_env)["inv-unknown"][:2] == ("manual_link", "V-2")  # applied at once

    # A new invoice from the same supplier arrives; re-scoring keeps the pin and uses what it taught.
    well_env.write(well_env.invoices + [make_invoice(
        invoice_id="inv-unknown-2", attachment_id="att-unknown-2", created_at=DAY0 + timedelta(hours=7),
        supplier_name="Zeta Quantum Widgets Ltd", iban=None, vat_number=None, invoice_number="Z-2")])
    score(well_env, instance)
    rows = decisions(well_env)
    assert rows["inv-unknown"][:2] == ("manual_link", "V-2")
    assert rows["inv-fraud"][0] == "refused"
    with duckdb.connect(str(well_env.settings.duckdb_path), read_only=True) as con:
        reasons = json.loads(con.execute("SELECT reasons FROM scored_matches WHERE qonto_id = 'inv-unknown-2'"
                                         ).fetchone()[0])
        author = con.execute("SELECT author FROM review_decisions WHERE qonto_id = 'inv-unknown'").fetchone()[0]
    assert "KNOWN_NAME" in {r["code"] for r in reasons}
    assert rows["inv-unknown-2"][1] == "V-2"
    assert author == "ana"


def test_a_changed_record_returns_to_the_queue(well_env: WellEnv, instance: dg.DagsterInstance) -> None:
    prepare(well_env, instance)
    score(well_env, instance)
    env = {"WELL_DATA_DIR": str(well_env.settings.data_dir)}
    assert CliRunner().invoke(cli, ["review", "approve", "inv-fraud"], env=env).exit_code == 0
    assert decisions(well_env)["inv-fraud"][0] == "manual_link"
    changed = [dict(r) for r in well_env.invoices]
    fraud = next(r for r in changed if r["id"] == "inv-fraud")
    fraud["total_amount"] = {"value": "9999.00", "currency": "EUR"}
    fraud["updated_at"] = (DAY0 + timedelta(days=1)).isoformat()
    well_env.write(changed)
    ingest_only = materialize_range(well_env, instance, day_key(0), day_key(2), assets=[QONTO_SUPPLIER_INVOICES])
    assert ingest_only.success and not day_metadata(ingest_only, SCORED_MATCHES)
    # Nobody may decide on version 2 before it was scored and shown.
    stale = CliRunner().invoke(cli, ["review", "refuse", "inv-fraud", "--reason", "x"], env=env)
    assert stale.exit_code != 0 and "changed in Qonto" in stale.output
    score(well_env, instance)
    assert decisions(well_env)["inv-fraud"][0] != "manual_link"  # approved version 1, Qonto now has version 2


def test_melio_exports_sensor_fires_on_content_change(well_env: WellEnv) -> None:
    melio = well_env.settings.data_path / "melio"
    melio.mkdir(parents=True, exist_ok=True)
    (melio / "vendors.csv").write_text(VENDORS_CSV, encoding="utf-8")
    sensor = well_env.ws.melio_sensor  # it watches the files of the workspace's `melio_exports` resource
    with dg.instance_for_test() as instance:
        (melio / "vendors.csv").unlink(missing_ok=True)
        (melio / "bills.csv").unlink(missing_ok=True)
        nothing = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(nothing, dg.SkipReason) and str(melio / "vendors.csv") in nothing.skip_message
        assert "melio_vendors_csv" in nothing.skip_message  # where to put them, and the setting that moves them
        (melio / "vendors.csv").write_text(VENDORS_CSV, encoding="utf-8")
        first = sensor(dg.build_sensor_context(instance=instance))
        assert len(first.run_requests) == 1
        unchanged = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert isinstance(unchanged, dg.SkipReason)
        (melio / "vendors.csv").write_text(VENDORS_CSV + "Acme Inc.;V-9;;;\n", encoding="utf-8")
        changed = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        assert changed.run_requests[0].tags["well/changed"] == "vendors"


@pytest.mark.fault(scenario="Melio export lists one vendor_id twice with a changed IBAN",
                   expected="that vendor's invoices held (VENDOR_DIRECTORY_CONFLICT) until the export is fixed; "
                            "the reload releases them")
def test_a_vendor_listed_twice_with_other_bank_details_holds_its_invoices(
    well_env: WellEnv, instance: dg.DagsterInstance, fault_outcome
) -> None:
    prepare(well_env, instance)
    conflicting = VENDORS_CSV + "Papeterie Dupont SARL;V-1;compta@dupont.fr;DE89370400440532013000;FR40303265045\n"
    (well_env.settings.data_path / "melio" / "vendors.csv").write_text(conflicting, encoding="utf-8")
    assert dg.materialize([well_env.ws.melio_assets[0]], instance=instance).success
    issues = instance.get_latest_materialization_event(
        MELIO_VENDOR_DIRECTORY).asset_materialization.metadata["issues"].value
    assert "VENDOR_DIRECTORY_CONFLICT" in issues
    score(well_env, instance)
    held = decisions(well_env)
    dupont = [q for q, row in held.items() if row[1] == "V-1" and row[0] != "already_in_melio"]
    assert dupont and all(held[q][0] != "auto_link" and "VENDOR_DIRECTORY_CONFLICT" in held[q][2] for q in dupont)

    # The export is fixed: the reload makes the held days stale, and the next scoring releases them.
    (well_env.settings.data_path / "melio" / "vendors.csv").write_text(VENDORS_CSV, encoding="utf-8")
    assert dg.materialize([well_env.ws.melio_assets[0]], instance=instance).success
    rescored = score(well_env, instance, ingest=False)
    assert set(day_metadata(rescored, SCORED_MATCHES)) == {day_key(0), day_key(1), day_key(2)}
    assert not day_metadata(rescored, QONTO_SUPPLIER_INVOICES)  # a rescore lists nothing from Qonto
    released = decisions(well_env)
    assert released["inv-0-0"][0] == "auto_link"
    assert not any("VENDOR_DIRECTORY_CONFLICT" in row[2] for row in released.values())
    fault_outcome.record(observed=f"{len(dupont)} invoices of the vendor held while the export disagreed, none "
                                  "sent; released after the fixed export", lost=0, duplicated=0)
