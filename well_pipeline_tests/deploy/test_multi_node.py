"""Three workspaces synced concurrently by Dagster's multi-node deployment (issue 12, item 5), run for real.

Separate processes sharing only PostgreSQL and gRPC (support/deployment.py): `dagster code-server start`, the
webserver and the daemon, each with its own DAGSTER_HOME holding deploy/dagster.yaml; the webserver and the daemon
have no Well setting at all. Well's store is the same PostgreSQL server's `well` database, one schema per
workspace. Three companies (acme, globex, initech), each its own Qonto organisation in the sandbox, its own Melio
inbox address, its own workspace file and prefixed secrets, connected with `well --workspace <id> qonto connect`
(support/workspace_fleet.py).

Nothing is driven by the test but what an operator does: the sensors run (each workspace's Melio export load,
then its sync), and two extra reloads of acme's Melio exports are launched from the webserver at once, so acme
has three runs queued together. The test waits until every auto-link record of each organisation is in that
company's inbox, then checks: every record ingested and scored once in its own schema, exactly the auto-link ones
sent once to its own address and nowhere else, runs of different workspaces overlapping in time, and never two
runs of one workspace (the queue's `well/workspace` limit held acme's).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from well_pipeline_tests.support.deployment import start_deployment
from well_pipeline_tests.support.postgres_server import PostgresServer, PostgresUnavailable, start_server
from well_pipeline_tests.support.waiting import wait_until
from well_pipeline_tests.support.workspace_fleet import (
    WELL_CLI,
    cross_workspace_overlaps,
    fleet_cli_env,
    run_spans,
    running_fleet,
    runs_settled,
    same_workspace_overlaps,
    store_counts,
)

WORKSPACES = ("acme", "globex", "initech")
INVOICES = 16  # per organisation: about half auto-link (support/workspace_fleet.py)
DELIVERY_TIMEOUT_S = 240  # a deadline for a broken deployment, not a measurement


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    try:
        server = start_server()
    except PostgresUnavailable as exc:  # only when it is not installed and cannot be: a failed start is an error
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_three_workspaces_sync_concurrently_on_a_multi_node_deployment(tmp_path: Path,
                                                                       postgres: PostgresServer) -> None:
    with running_fleet(tmp_path / "fleet", WORKSPACES, invoices=INVOICES, postgres_dsn=postgres.dsn()) as fleet:
        assert all(ws.auto_link_ids for ws in fleet.workspaces)  # each company has something to send
        deployment = start_deployment(tmp_path / "deployment", postgres, fleet.well_env)
        try:
            # The webserver knows each workspace's sensors through the code server; they start on (default RUNNING),
            # turned on here otherwise, as from the UI.
            statuses = deployment.sensor_statuses()
            for ws in WORKSPACES:
                assert {f"qonto_sync_sensor__{ws}", f"melio_exports_sensor__{ws}"} <= set(statuses)
                deployment.start_sensor(f"qonto_sync_sensor__{ws}")
                deployment.start_sensor(f"melio_exports_sensor__{ws}")
            extra = [deployment.launch_job("melio_exports_job__acme") for _ in range(2)]

            wait_until(fleet.all_delivered, DELIVERY_TIMEOUT_S,
                       lambda: f"every auto-link record in its inbox ({fleet.progress()}):\n{deployment.logs(20)}")
            with deployment.instance() as instance:
                wait_until(lambda: runs_settled(instance), DELIVERY_TIMEOUT_S,
                           lambda: f"the runs to finish:\n{deployment.logs(20)}")
                spans = run_spans(instance)
            # A company added with the CLI while the deployment runs appears after the UI's Reload, with no restart:
            # the code server loads the workspace files again.
            added = subprocess.run([str(WELL_CLI), "workspace", "add", "umbrella", "--name", "Umbrella Corp",
                                    "--region", "us", "--set", "melio_inbox_address=umbrella-ap@invoicesmelio.com"],
                                   env=fleet_cli_env(fleet), capture_output=True, text=True, timeout=120)
            assert added.returncode == 0, added.stderr
            assert "qonto_sync_sensor__umbrella" not in deployment.sensor_statuses()
            deployment.reload_code_location()
            reloaded = wait_until(lambda: "qonto_sync_sensor__umbrella" in deployment.sensor_statuses()
                                  and deployment.sensor_statuses(), 120, "the new workspace's sensors after Reload")
            assert {"qonto_sync_sensor__umbrella", "melio_exports_sensor__umbrella",
                    *(f"qonto_sync_sensor__{ws}" for ws in WORKSPACES)} <= set(reloaded)
            deployment.check_alive()
        finally:
            deployment.stop()

        # Each company: its records ingested (or kept as rejected) and scored once, in its own schema; exactly the
        # records scoring auto-links sent, once each, to its own address.
        for ws in fleet.workspaces:
            counts = store_counts(postgres.dsn(), ws.id)
            assert set(counts.invoices) | counts.rejected == ws.record_ids, ws.id
            assert set(counts.invoices.values()) == {1}
            assert counts.scored == counts.invoices, ws.id
            assert counts.auto_linked == ws.auto_link_ids, ws.id
            assert counts.sent == Counter(dict.fromkeys(ws.auto_link_ids, 1)), ws.id
            assert counts.to_addresses == {ws.inbox_address}
            assert fleet.delivered(ws) == Counter(dict.fromkeys(ws.auto_link_ids, 1)), ws.id
        assert set(fleet.inbox.addresses()) == {ws.inbox_address for ws in fleet.workspaces}
        assert len(fleet.inbox.messages()) == sum(len(ws.auto_link_ids) for ws in fleet.workspaces)

    # The runs, from their records in PostgreSQL: all succeeded, each tagged with its workspace.
    assert spans and {span.status for span in spans} == {"SUCCESS"}, spans
    assert {span.workspace for span in spans} == set(WORKSPACES)
    for ws in WORKSPACES:
        jobs = {span.job for span in spans if span.workspace == ws}
        assert {f"melio_exports_job__{ws}", f"qonto_sync_job__{ws}"} <= jobs, (ws, jobs)
    # Workspaces ran in parallel; one workspace never ran two runs at once.
    assert cross_workspace_overlaps(spans), spans
    assert not same_workspace_overlaps(spans), same_workspace_overlaps(spans)
    # acme's three Melio reloads were in the queue together, yet ran one after the other: the limit held them.
    acme_reloads = [span for span in spans if span.job == "melio_exports_job__acme"]
    assert len(acme_reloads) == 3 and set(extra) <= {span.run_id for span in acme_reloads}
    held = [(a, b) for a in acme_reloads for b in acme_reloads if a.start < b.start and b.created < a.end]
    assert held, acme_reloads
