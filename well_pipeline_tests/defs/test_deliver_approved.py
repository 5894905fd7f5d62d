"""Issue 10 item 3, "approvals flow without dates": a record a person approves or pins in the review queue is
delivered by `deliver_approved_job__main` ("deliver approved now"), which nobody gives a date or a partition. The run
reports `delivered_bills` for that record's day only, with that day's own counts, and refreshes `review_queue`.

Real parts: the Qonto sandbox, the Melio inbox sandbox over STARTTLS, a DuckDB file, a Dagster instance; the sync
before the decision is the job the sync sensor launches (`qonto_sync_job__main`).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import dagster as dg
import duckdb
from click.testing import CliRunner

from well_pipeline.cli.main import cli
from well_pipeline.sandbox.melio import MelioInbox
from well_pipeline.services import review
from well_pipeline_tests.defs.conftest import DAY0, WellEnv, clean_invoices, day_key, load_melio
from well_pipeline_tests.defs.test_delivery import delivered_days, delivery_figures, inbox_ids, outbox
from well_pipeline_tests.support.qonto_records import make_invoice
from well_pipeline_tests.support.workspace_defs import DELIVERED_BILLS, REVIEW_QUEUE

# Tags that would tie a run to partitions: "deliver approved now" carries none of them.
PARTITION_TAGS = ("dagster/partition", "dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def held_for_review(qonto_id: str, day: int, **fields: object) -> dict:
    """A record scoring cannot release on its own (the tests say which rule holds it)."""
    return make_invoice(invoice_id=qonto_id, attachment_id=f"a-{qonto_id}", invoice_number=f"F-{qonto_id}",
                        created_at=DAY0 + timedelta(days=day, hours=20), status="awaiting_payment",
                        **({"supplier_name": "Papeterie Dupont SARL", "iban": None} | fields))


def sync(env: WellEnv, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """What the sync sensor launches; no window in the run config: everything (no marker yet)."""
    result = env.ws.sync_job.execute_in_process(instance=instance)
    assert result.success
    return result


def deliver_approved(env: WellEnv, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """"Deliver approved now" as the UI launches it: no run config, no tags, no partition."""
    result = env.ws.deliver_job.execute_in_process(instance=instance)
    assert result.success
    assert not set(PARTITION_TAGS) & set(result.dagster_run.tags)  # nobody passed a date or a partition
    return result


def queue_shown(result: dg.ExecuteInProcessResult) -> tuple[int, int, set[str]]:
    """The run's `review_queue` materialisation: how many wait for review, how many are refused, and the ids its
    two tables list."""
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == REVIEW_QUEUE]
    metadata = event.materialization.metadata
    listed = {row.data["qonto_id"] for table in ("queue", "refused_queue") for row in metadata[table].value.records}
    return metadata["waiting_for_review"].value, metadata["refused"].value, listed


def decision(env: WellEnv, qonto_id: str) -> str:
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        return con.execute("SELECT decision FROM scored_matches WHERE qonto_id = ?", [qonto_id]).fetchone()[0]


def day_states(env: WellEnv, day: int) -> Counter:
    """Outbox states of one creation day, read straight from DuckDB (what the partition's counts must equal)."""
    with duckdb.connect(str(env.settings.duckdb_path), read_only=True) as con:
        rows = con.execute("SELECT o.state, count(*) FROM outbox o JOIN qonto_supplier_invoices i ON i.id = o.qonto_id "
                           "WHERE i.created_date = ? GROUP BY 1", [(DAY0 + timedelta(days=day)).date()]).fetchall()
    return Counter(dict(rows))


def test_an_approved_record_is_delivered_without_a_date_and_only_its_day_is_reported(
        delivery_env: WellEnv, inbox: MelioInbox, instance: dg.DagsterInstance) -> None:
    # Day 0: three clean bills. Day 1: two clean bills and one only the supplier's name links to its vendor.
    delivery_env.write(clean_invoices(3) + clean_invoices(2, day=1) + [held_for_review("d1-name-only", day=1)])
    load_melio(delivery_env, instance)
    synced = sync(delivery_env, instance)
    assert decision(delivery_env, "d1-name-only") == "review"
    assert "d1-name-only" not in inbox_ids(inbox) and sum(inbox_ids(inbox).values()) == 5
    assert queue_shown(synced) == (1, 0, {"d1-name-only"})

    outcome = review.approve(delivery_env.resources["storage"].storage(), "d1-name-only", author="ops")
    assert (outcome.previous_decision, outcome.override.vendor_id) == ("review", "V-1")

    delivered = deliver_approved(delivery_env, instance)
    sent = inbox_ids(inbox)
    assert sent["d1-name-only"] == 1 and sum(sent.values()) == 6  # that record, once; nothing else
    assert outbox(delivery_env)["d1-name-only"][0] == "sent"
    # Only the approved record's day is reported, with the day's own counts (its two earlier bills included),
    # not the run's (one e-mail).
    days = delivered_days(delivered)
    assert set(days) == {day_key(1)}
    assert day_states(delivery_env, 1) == Counter({"sent": 3})
    assert (days[day_key(1)]["sent"], days[day_key(1)]["records"], days[day_key(1)]["released_records"],
            days[day_key(1)]["waiting"], days[day_key(1)]["held"]) == (3, 3, 3, 0, 0)
    assert delivery_figures(delivered)["sent"] == 1
    checks = {e.check_name: e.passed for e in delivered.get_asset_check_evaluations()}
    assert checks == {"no_record_sent_twice": True}  # the blocking check ran after the delivery
    assert queue_shown(delivered) == (0, 0, set())  # review_queue refreshed after the decision: not listed
    assert day_key(1) in instance.get_materialized_partitions(DELIVERED_BILLS)

    again = deliver_approved(delivery_env, instance)  # nothing waits any more: nothing sent, no day reported
    assert inbox_ids(inbox) == sent
    assert delivered_days(again) == {} and delivery_figures(again)["sent"] == 0
    # The queue did not change since the last run: review_queue is not written again (it is the largest event a
    # run writes), and its latest materialisation still shows the queue as it is.
    assert [e for e in again.get_asset_materialization_events() if e.asset_key == REVIEW_QUEUE] == []
    latest = instance.get_latest_materialization_event(REVIEW_QUEUE).asset_materialization
    assert (latest.metadata["waiting_for_review"].value, latest.metadata["refused"].value) == (0, 0)


def test_a_pinned_record_is_delivered_the_same_way(delivery_env: WellEnv, inbox: MelioInbox,
                                                   instance: dg.DagsterInstance) -> None:
    # A supplier the Melio directory does not know, with no IBAN: refused, no candidate; a person pins the vendor.
    orphan = held_for_review("d2-unknown", day=2, supplier_name="Atelier Sans Nom")
    delivery_env.write(clean_invoices(2) + [orphan])
    load_melio(delivery_env, instance)
    synced = sync(delivery_env, instance)
    assert decision(delivery_env, "d2-unknown") == "refused"
    assert queue_shown(synced) == (0, 1, {"d2-unknown"})
    env = {"WELL_DATA_DIR": str(delivery_env.settings.data_dir), "WELL_REVIEWER": "ops"}
    refused = CliRunner().invoke(cli, ["review", "approve", "d2-unknown"], env=env)
    assert refused.exit_code != 0 and "has no candidate vendor to approve" in refused.output
    pinned = CliRunner().invoke(cli, ["review", "pin", "d2-unknown", "--vendor", "V-1"], env=env)
    assert pinned.exit_code == 0, pinned.output
    assert decision(delivery_env, "d2-unknown") == "manual_link"

    delivered = deliver_approved(delivery_env, instance)
    sent = inbox_ids(inbox)
    assert sent == Counter({"d0-000": 1, "d0-001": 1, "d2-unknown": 1})
    days = delivered_days(delivered)
    assert set(days) == {day_key(2)} and days[day_key(2)]["sent"] == 1 == day_states(delivery_env, 2)["sent"]
    assert queue_shown(delivered) == (0, 0, set())

    again = deliver_approved(delivery_env, instance)
    assert inbox_ids(inbox) == sent and delivered_days(again) == {}


def test_an_approved_resend_goes_out_once_without_a_date(delivery_env: WellEnv, inbox: MelioInbox,
                                                         instance: dg.DagsterInstance) -> None:
    """The other approval the job carries: a person approves a re-send of an unconfirmed e-mail."""
    delivery_env.write(clean_invoices(2, day=1))
    load_melio(delivery_env, instance)
    inbox.add_fault("drop_after_data")  # the first e-mail arrives, its confirmation does not
    sync(delivery_env, instance)
    (unconfirmed,) = [q for q, (state, *_) in outbox(delivery_env).items() if state == "unconfirmed"]
    nothing = deliver_approved(delivery_env, instance)  # held for a person: not re-sent on its own
    assert inbox_ids(inbox)[unconfirmed] == 1 and delivered_days(nothing) == {}

    env = {"WELL_DATA_DIR": str(delivery_env.settings.data_dir), "WELL_REVIEWER": "ops"}
    assert CliRunner().invoke(cli, ["delivery", "resend", unconfirmed], env=env).exit_code == 0
    resent = deliver_approved(delivery_env, instance)
    assert inbox_ids(inbox)[unconfirmed] == 2  # the original and the one approved re-send
    assert set(delivered_days(resent)) == {day_key(1)} and delivery_figures(resent)["re_sent_after_approval"] == 1
    deliver_approved(delivery_env, instance)
    assert inbox_ids(inbox)[unconfirmed] == 2  # the approval was used once
