"""Every Dagster name of a workspace carries its id (the default workspace `main` too), and the CLI's names
(services/sync_cursor.py, read without Dagster's definitions) are the ones the definitions use."""

from __future__ import annotations

import dagster as dg
import pytest

from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.services.sync_cursor import (
    PendingRun,
    SyncCursor,
    deliver_job_name,
    is_sync_job,
    sensor_name,
    sync_job_name,
)
from well_pipeline_tests.support.workspace_defs import MAIN


def test_keys_group_pool_and_tags_carry_the_workspace() -> None:
    acme = WorkspaceNames("acme")
    assert (acme.invoices, acme.scored, acme.delivered) == (
        dg.AssetKey(["acme", "qonto_supplier_invoices"]), dg.AssetKey(["acme", "scored_matches"]),
        dg.AssetKey(["acme", "delivered_bills"]))
    assert (acme.review_queue, acme.vendors, acme.ledger) == (
        dg.AssetKey(["acme", "review_queue"]), dg.AssetKey(["acme", "melio_vendor_directory"]),
        dg.AssetKey(["acme", "melio_ledger"]))
    assert (acme.group, acme.pool, acme.tags) == ("acme", "well__acme", {"well/workspace": "acme"})
    assert (acme.resource("storage"), acme.pipeline, acme.checks, acme.sync_op) == (
        "storage__acme", "invoice_pipeline__acme", "pipeline_checks__acme", "qonto_sync__acme")
    assert MAIN.invoices.to_user_string() == "main/qonto_supplier_invoices"  # the default workspace too


def test_the_cli_names_are_the_definitions_names() -> None:
    acme = WorkspaceNames("acme")
    assert (acme.sync_sensor, acme.sync_job, acme.deliver_job) == (
        sensor_name("acme"), sync_job_name("acme"), deliver_job_name("acme")) == (
        "qonto_sync_sensor__acme", "qonto_sync_job__acme", "deliver_approved_job__acme")
    assert (acme.melio_sensor, acme.melio_job) == ("melio_exports_sensor__acme", "melio_exports_job__acme")


@pytest.mark.parametrize("bad", ["Acme", "1acme", "ac__me", "default", "", "a" * 41, "ac-me"])
def test_an_id_that_cannot_name_definitions_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot name Dagster definitions"):
        WorkspaceNames(bad)


def test_a_sync_job_is_recognised_in_any_workspace_and_before_workspaces() -> None:
    assert is_sync_job("qonto_sync_job__acme") and is_sync_job("qonto_sync_job")  # a cursor from before: still read
    assert not is_sync_job("deliver_approved_job__acme") and not is_sync_job("qonto_sync_jobs")


@pytest.mark.parametrize("job", ["qonto_sync_job__acme", "qonto_sync_job"])
def test_a_settled_sync_makes_its_records_known(job: str) -> None:
    """`settled` tells a sync from a delivery by the pending job's name: a sync's probe records become known (a
    delivery's would instead mark its waiting set delivered)."""
    cursor = SyncCursor(pending=PendingRun(job=job, run_key="k", seen=("f1",), melio=3))
    done = cursor.settled("success")
    assert (done.known, done.melio, done.delivered, done.pending) == (("f1",), 3, "", None)
    delivery = SyncCursor(pending=PendingRun(job="deliver_approved_job__acme", run_key="k", digest="d")).settled(
        "success")
    assert (delivery.known, delivery.delivered) == ((), "d")
