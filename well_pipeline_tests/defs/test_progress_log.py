"""A range run's progress lines in the Dagster event log: pages, records, attachments, invoices and e-mails, with
counts equal to what the run stored and sent (services/progress.py, the `well/progress_every_s` run tag)."""

from __future__ import annotations

import re
from datetime import timedelta

import dagster as dg
import duckdb

from well_pipeline.defs.pipeline.stages import PROGRESS_TAG
from well_pipeline.sandbox.melio import MelioInbox
from well_pipeline.services.progress import size
from well_pipeline_tests.defs.conftest import DAY0, WellEnv, clean_invoices, day_key, load_melio
from well_pipeline_tests.defs.pipeline_runs import PIPELINE_KEYS, day_metadata, materialize_range
from well_pipeline_tests.support.qonto_records import make_invoice

LABELS = ("ingest listing", "ingest attachments", "scoring", "delivery", "qonto_supplier_invoices partitions",
          "scored_matches partitions", "delivered_bills partitions")


def progress_lines(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """The run's progress lines by label, read back from the instance's event log (what the UI shows)."""
    found: dict[str, list[str]] = {label: [] for label in LABELS}
    for entry in instance.all_logs(run_id):
        if entry.dagster_event is None:  # a context.log message
            label = entry.user_message.split(":", 1)[0]
            if label in found:
                found[label].append(entry.user_message)
    return found


def counted(lines: list[str], unit: str) -> list[tuple[int, int]]:
    """(done, total) of each line, e.g. `12/37 pages` → (12, 37); a line without them fails the test."""
    found = [re.search(rf": (\d+)/(\d+) {unit}", line) for line in lines]
    assert all(found), lines
    return [(int(m.group(1)), int(m.group(2))) for m in found if m]


def stored(env: WellEnv, query: str) -> tuple:
    """One row of a query on the run's DuckDB file."""
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        row = con.execute(query).fetchone()
    assert row is not None
    return row


def test_a_range_run_logs_progress_with_the_counts_it_stored_and_sent(delivery_env: WellEnv, inbox: MelioInbox,
                                                                      instance: dg.DagsterInstance) -> None:
    # 110 records, two pages of Qonto's 100; 5 are bills of a Melio vendor (e-mailed, 0.1 s each), the others from
    # a supplier Melio does not know (refused, not e-mailed): every unit is counted without a slow test.
    unknown = [make_invoice(invoice_id=f"u-{n:03d}", attachment_id=f"au-{n:03d}", invoice_number=f"U-{n:03d}",
                            created_at=DAY0 + timedelta(days=1, minutes=10 * n),
                            supplier_name="Fournisseur Inconnu SAS", iban=None, vat_number=None)
               for n in range(105)]
    delivery_env.write(clean_invoices(5) + unknown)
    load_melio(delivery_env, instance)

    # A tag that is not a number of seconds fails the run before it does anything, saying which tag and why.
    bad = materialize_range(delivery_env, instance, day_key(0), day_key(2), tags={PROGRESS_TAG: "often"})
    assert not bad.success
    (failure,) = bad.get_step_failure_events()
    assert f"{PROGRESS_TAG}='often'" in failure.step_failure_data.error.message
    assert stored(delivery_env, "SELECT count(*) FROM qonto_supplier_invoices") == (0,)
    assert delivery_env.sandbox.stats()["by_path"].get("/v2/supplier_invoices") is None
    assert inbox.messages() == []

    # Interval 0: a line for every page, attachment and e-mail, so the test sees the lines between first and last.
    result = materialize_range(delivery_env, instance, day_key(0), day_key(2), tags={PROGRESS_TAG: "0"})
    assert result.success
    lines = progress_lines(instance, result.run_id)

    pages = delivery_env.sandbox.stats()["by_path"]["/v2/supplier_invoices"]
    records, = stored(delivery_env, "SELECT count(*) FROM qonto_supplier_invoices")
    assert (pages, records) == (2, 110)
    assert counted(lines["ingest listing"], "pages") == [(1, 2), (2, 2)]
    assert lines["ingest listing"][0].startswith("ingest listing: 1/2 pages, 100 records (100 new, 0 changed, "
                                                 "0 rejected) · 50% · ")
    assert lines["ingest listing"][-1].startswith("ingest listing: 2/2 pages, 110 records (110 new, 0 changed, "
                                                  "0 rejected) · 100% · done in ")

    attachments, attachment_bytes = stored(delivery_env, "SELECT count(*), sum(size_bytes) FROM qonto_attachments")
    assert counted(lines["ingest attachments"], "attachments") == [(n, 110) for n in range(1, 111)]
    assert lines["ingest attachments"][-1].startswith(
        f"ingest attachments: {attachments}/110 attachments, {size(attachment_bytes)}, 0 failed · 100% · done in ")

    assert len(lines["scoring"]) == 1  # one batch: the line when its decisions are stored
    assert lines["scoring"][0].startswith("scoring: 110/110 invoices, auto_link 5, refused 105 · 100% · done in ")

    sent = len(inbox.messages())
    assert sent == 5
    assert counted(lines["delivery"], "e-mails") == [(n, 5) for n in range(1, 6)]
    assert lines["delivery"][1].startswith("delivery: 2/5 e-mails, sent 2 · 40% · ")
    assert lines["delivery"][-1].startswith(f"delivery: {sent}/5 e-mails, sent {sent} · 100% · done in ")

    # Recording the partitions (a thousand instance writes per asset on a 3-year range) is followed too: the days
    # holding rows, then the range's empty days (materialised with zero counts), as many as the run reported.
    for key in PIPELINE_KEYS:
        label = f"{key.path[-1]} partitions"  # the line names the asset (the run is one workspace's)
        reported = len(day_metadata(result, key))
        with_rows, empty = (counted([line for line in lines[label] if unit in line], unit)
                            for unit in ("days with rows", "empty days"))
        assert with_rows[-1][0] + (empty[-1][0] if empty else 0) == reported == 3, (label, lines[label])
    assert [line.split(" · ")[0] for line in lines["delivered_bills partitions"]] == [
        "delivered_bills partitions: 1/1 days with rows",  # day 0: the five e-mails
        "delivered_bills partitions: 1/2 empty days", "delivered_bills partitions: 2/2 empty days"]
