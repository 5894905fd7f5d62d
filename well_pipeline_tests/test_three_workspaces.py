"""Three companies in one Well deployment, one process: nothing crosses from one workspace to another (issue 12,
item 2).

acme, globex and initech are three Qonto organisations of ONE Qonto sandbox and three inbox addresses of ONE
Melio inbox sandbox; each has its workspace file, its secrets as `WELL_SECRET_<WS>__<NAME>` variables and its
consent from `well --workspace <id> qonto connect` (support/workspace_fleet.py, DuckDB store: one file per
workspace). Each workspace's definitions come from `build_workspace` over `load_workspaces()`, as the code location
builds them, and run in ONE Dagster instance: each Melio export sensor and sync sensor is ticked and the runs it
requests are launched (support/sync_sensor.py), so ingest, scoring and delivery run for all three. A person then
approves one record in acme only, with `well --workspace acme review approve`, and acme's sensor delivers it.

Each assertion below would fail if isolation broke: a store holding another organisation's record, a message at
the wrong address or with another organisation's document, a decision or a sensor cursor seen by another
workspace, a run touching another workspace's assets, a token readable from another workspace's store, a bare
secret variable reaching several companies, or acme's client let into globex's organisation.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner, Result

from well_pipeline.adapters.qonto import QontoAuthError, QontoNotFoundError
from well_pipeline.adapters.qonto.records import RejectedRecord, parse_record
from well_pipeline.adapters.secrets import QONTO_CLIENT_SECRET, QONTO_REFRESH_TOKEN, Secret, SecretStore
from well_pipeline.cli.common import open_storage_for
from well_pipeline.cli.main import cli
from well_pipeline.core.scoring.display import Section
from well_pipeline.defs.pipeline.stages import SYNC_MARKER_KEY
from well_pipeline.defs.workspace.factory import WorkspaceBundle, build_workspace
from well_pipeline.defs.workspace.names import WORKSPACE_TAG
from well_pipeline.sandbox.qonto.config import derived_credentials
from well_pipeline.services import review
from well_pipeline.services.qonto_connection import open_client
from well_pipeline.services.sync_cursor import SyncCursor, fingerprints
from well_pipeline.workspaces import Workspace, load_workspaces, secret_store_for
from well_pipeline_tests.support.sync_sensor import RUN_KEY_TAG, launch, only_request, skip_text, tick
from well_pipeline_tests.support.workspace_fleet import (
    Fleet,
    FleetWorkspace,
    duckdb_store_counts,
    running_fleet,
)

WORKSPACES = ("acme", "globex", "initech")
INVOICES = 12  # per organisation; each auto-links a few (support/workspace_fleet.py) and leaves some for review
REVIEWER = "ana"


@dataclass
class Scenario:
    """What the three workspaces did, for the tests to check."""

    fleet: Fleet
    workspaces: dict[str, Workspace]
    bundles: dict[str, WorkspaceBundle]
    instance: dg.DagsterInstance
    cursors: dict[str, str]             # each sync sensor's cursor at the end
    sync_runs: dict[str, str]           # each workspace's sync run
    approved: str                       # the acme record a person approved
    quiet_after_decision: dict[str, str]  # globex's and initech's skip reasons after acme's decision

    def fleet_ws(self, ws_id: str) -> FleetWorkspace:
        (found,) = [ws for ws in self.fleet.workspaces if ws.id == ws_id]
        return found

    def others(self, ws_id: str) -> list[str]:
        return [other for other in WORKSPACES if other != ws_id]


def well(fleet: Fleet, *args: str, **extra_env: str) -> Result:
    """The `well` CLI with the deployment's settings and secrets (in process: a `well` start-up costs 1.5-4 s on
    this machine; the connects of support/workspace_fleet.py run it as separate processes)."""
    return CliRunner().invoke(cli, list(args), env={**fleet.well_env, **extra_env})


def run_melio_exports(bundle: WorkspaceBundle, instance: dg.DagsterInstance) -> None:
    """What the daemon does with the workspace's Melio export sensor: its reload job, with the request's tags."""
    result = bundle.melio_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SensorResult), result
    request = only_request(result)
    job = bundle.definitions.resolve_job_def(bundle.names.melio_job)
    ran = job.execute_in_process(instance=instance, tags={**request.tags, RUN_KEY_TAG: request.run_key})
    assert ran.success


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("three")
    with (pytest.MonkeyPatch.context() as env,
          running_fleet(root / "fleet", WORKSPACES, invoices=INVOICES, postgres_dsn=None) as fleet,
          dg.instance_for_test() as instance):
        for name, value in fleet.well_env.items():
            env.setenv(name, value)
        workspaces = {ws.id: ws for ws in load_workspaces()}
        assert tuple(workspaces) == WORKSPACES
        bundles = {ws_id: build_workspace(ws) for ws_id, ws in workspaces.items()}

        # Each workspace's Melio exports, then each sync sensor's first tick (no marker: everything), each run.
        for bundle in bundles.values():
            run_melio_exports(bundle, instance)
        ticks = {ws_id: tick(bundle, instance, None) for ws_id, bundle in bundles.items()}
        sync_runs = {}
        for ws_id, bundle in bundles.items():
            request = only_request(ticks[ws_id])
            assert request.job_name == bundle.names.sync_job
            ran = launch(bundle, instance, request)
            assert ran.success
            sync_runs[ws_id] = ran.run_id
        # The next tick settles the run, adopts its marker and sees nothing new.
        cursors = {}
        for ws_id, bundle in bundles.items():
            settled = tick(bundle, instance, ticks[ws_id].cursor)
            assert "No change since" in skip_text(settled), ws_id
            cursors[ws_id] = settled.cursor

        # A person approves one of acme's review records, with the CLI; acme's sensor delivers it.
        acme = workspaces["acme"]
        queue = review.list_queue(open_storage_for(acme.settings, read_only=True), limit=None)
        approvable = [e for e in queue.section(Section.REVIEW) if e.candidates]
        assert approvable, "acme's dataset leaves no record for review"
        approved = approvable[0].qonto_id
        decided = well(fleet, "--workspace", "acme", "review", "approve", approved, "--author", REVIEWER)
        assert decided.exit_code == 0, decided.output
        delivery = tick(bundles["acme"], instance, cursors["acme"])
        request = only_request(delivery)
        assert request.job_name == bundles["acme"].names.deliver_job
        assert launch(bundles["acme"], instance, request).success
        settled = tick(bundles["acme"], instance, delivery.cursor)
        assert "No change since" in skip_text(settled)
        cursors["acme"] = settled.cursor
        # The other two have nothing to deliver: acme's decision is not theirs.
        quiet = {}
        for ws_id in ("globex", "initech"):
            after = tick(bundles[ws_id], instance, cursors[ws_id])
            quiet[ws_id] = skip_text(after)
            cursors[ws_id] = after.cursor

        yield Scenario(fleet, workspaces, bundles, instance, cursors, sync_runs, approved, quiet)


@pytest.fixture
def deployment_env(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deployment's `WELL_*` environment in this process (the suite clears it before each test)."""
    for name, value in scenario.fleet.well_env.items():
        monkeypatch.setenv(name, value)
    return scenario.fleet.well_env


def org_records(ws: FleetWorkspace) -> list[dict]:
    lines = (ws.dataset / "qonto" / "invoices.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def org_document_digests(ws: FleetWorkspace) -> set[str]:
    """sha256 of every document the organisation holds in Qonto."""
    return {hashlib.sha256(path.read_bytes()).hexdigest()
            for path in (ws.dataset / "qonto" / "attachments").iterdir()}


# -- records, e-mails, decisions ---------------------------------------------------------------------------------
def test_each_store_holds_exactly_its_organisations_records(scenario: Scenario) -> None:
    fleet = scenario.fleet
    all_ids = [ws.record_ids for ws in fleet.workspaces]
    assert all(not (a & b) for i, a in enumerate(all_ids) for b in all_ids[i + 1:])  # three distinct organisations
    paths = {ws_id: ws.settings.duckdb_path for ws_id, ws in scenario.workspaces.items()}
    assert len(set(paths.values())) == 3
    for ws in fleet.workspaces:
        counts = duckdb_store_counts(paths[ws.id])
        assert set(counts.invoices) | counts.rejected == ws.record_ids, ws.id  # its records, none of the others'
        assert set(counts.invoices.values()) == {1}, ws.id
        assert counts.scored == counts.invoices, ws.id
        # Scored against its own Melio exports: another company's vendor directory would link other records.
        assert counts.auto_linked == ws.auto_link_ids, ws.id


def test_each_inbox_address_receives_only_its_organisations_documents(scenario: Scenario) -> None:
    fleet, inbox = scenario.fleet, scenario.fleet.inbox
    assert len({ws.inbox_address for ws in fleet.workspaces}) == 3
    for ws in fleet.workspaces:  # the address each workspace file gives is the one its settings carry
        assert scenario.workspaces[ws.id].settings.melio_inbox_address == ws.inbox_address
    digests = {ws.id: org_document_digests(ws) for ws in fleet.workspaces}
    assert all(not (digests[a] & digests[b]) for a in WORKSPACES for b in scenario.others(a))
    sent_by_stores: Counter[str] = Counter()
    for ws in fleet.workspaces:
        messages = inbox.messages(to=ws.inbox_address)
        received = Counter(message.qonto_id for message in messages)
        expected = ws.auto_link_ids | ({scenario.approved} if ws.id == "acme" else set())
        assert received == Counter(dict.fromkeys(expected, 1)), ws.id
        assert set(received) <= ws.record_ids
        documents = {attachment.sha256 for message in messages for attachment in message.attachments}
        assert documents and documents <= digests[ws.id], ws.id  # its organisation's documents, no one else's
        counts = duckdb_store_counts(scenario.workspaces[ws.id].settings.duckdb_path)
        assert counts.sent == received, ws.id  # what its outbox says it sent is what its address holds
        assert counts.to_addresses == {ws.inbox_address}, ws.id
        sent_by_stores += counts.sent
    # The union of the three addresses is everything the inbox received, and everything the three stores sent.
    everything = Counter(message.qonto_id for message in inbox.messages())
    assert everything == sent_by_stores
    assert set(inbox.addresses()) == {ws.inbox_address for ws in fleet.workspaces}


def decisions(ws: Workspace) -> list[tuple[str, str, str]]:
    with duckdb.connect(str(ws.settings.duckdb_path), read_only=True) as con:
        return [tuple(row) for row in con.execute(
            "SELECT qonto_id, action, author FROM review_decisions ORDER BY decision_id").fetchall()]


def test_the_review_decision_exists_only_in_acme(scenario: Scenario) -> None:
    assert scenario.approved in scenario.fleet_ws("acme").record_ids
    assert decisions(scenario.workspaces["acme"]) == [(scenario.approved, "approve", REVIEWER)]
    for ws_id in ("globex", "initech"):
        assert decisions(scenario.workspaces[ws_id]) == [], ws_id
        # Their sensors saw nothing to deliver after acme's decision.
        assert "No change since" in scenario.quiet_after_decision[ws_id]
        assert "wait for delivery" not in scenario.quiet_after_decision[ws_id]


# -- Dagster: sensors and runs -----------------------------------------------------------------------------------
def marker_reports(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[tuple[str, datetime]]:
    """(run id, marker) of every sync marker reported on `key` (the sync runs' observations)."""
    reports = []
    for record in instance.fetch_observations(key, limit=1000).records:
        metadata = record.asset_observation.metadata
        if SYNC_MARKER_KEY in metadata:
            reports.append((record.run_id, datetime.fromisoformat(str(metadata[SYNC_MARKER_KEY].value))))
    return reports


def test_each_sync_sensor_keeps_its_own_marker(scenario: Scenario) -> None:
    instance = scenario.instance
    assert len(set(scenario.cursors.values())) == 3
    for ws_id, bundle in scenario.bundles.items():
        cursor = SyncCursor.parse(scenario.cursors[ws_id])
        # The records its window holds are its organisation's, as the probe fingerprints them.
        parsed = [parse_record(raw) for raw in org_records(scenario.fleet_ws(ws_id))]
        own = fingerprints([(r.id, r.updated_at.isoformat()) for r in parsed if not isinstance(r, RejectedRecord)])
        assert set(cursor.known) == set(own), ws_id
        # Its marker is the one its own sync run reported on its own invoices asset; no other run reported there.
        reports = marker_reports(instance, bundle.names.invoices)
        assert reports and {run_id for run_id, _ in reports} == {scenario.sync_runs[ws_id]}, ws_id
        assert cursor.marker == max(moment for _, moment in reports), ws_id


def asset_keys_of_run(instance: dg.DagsterInstance, run_id: str) -> set[dg.AssetKey]:
    """Every asset key a run's events name (materialisations, observations, checks, planned ones)."""
    keys = set()
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.asset_key is not None:
            keys.add(event.asset_key)
    return keys


def test_every_run_carries_its_workspace_and_touches_only_its_assets(scenario: Scenario) -> None:
    instance = scenario.instance
    runs = instance.get_runs()
    jobs_by_ws: dict[str, set[str]] = {ws_id: set() for ws_id in WORKSPACES}
    for run in runs:
        ws_id = run.tags.get(WORKSPACE_TAG)
        assert ws_id in WORKSPACES, (run.job_name, run.tags)
        assert run.job_name.endswith(f"__{ws_id}"), (run.job_name, ws_id)
        jobs_by_ws[ws_id].add(run.job_name)
        keys = asset_keys_of_run(instance, run.run_id)
        assert keys, run.job_name
        assert {key.path[0] for key in keys} == {ws_id}, (run.job_name, keys)
    for ws_id, bundle in scenario.bundles.items():
        expected = {bundle.names.melio_job, bundle.names.sync_job} | ({bundle.names.deliver_job} if ws_id == "acme"
                                                                       else set())
        assert jobs_by_ws[ws_id] == expected, ws_id
    assert len(runs) == 7  # 3 Melio loads, 3 syncs, acme's delivery of its approved record


# -- secrets -----------------------------------------------------------------------------------------------------
def test_each_secret_store_holds_only_its_workspaces_secrets(scenario: Scenario) -> None:
    # Compared as `Secret`s (equal by value, shown as Secret('***')): a failure prints no token.
    environ = scenario.fleet.well_env
    stores = {ws_id: secret_store_for(ws.settings, environ) for ws_id, ws in scenario.workspaces.items()}
    assert len({store.path for store in stores.values()}) == 3
    tokens = {ws_id: store.get(QONTO_REFRESH_TOKEN) for ws_id, store in stores.items()}
    assert all(tokens.values()) and len(set(tokens.values())) == 3
    # acme's store: its own client secret (from WELL_SECRET_ACME__*), and nothing it holds is another workspace's.
    acme = stores["acme"]
    assert acme.get(QONTO_CLIENT_SECRET) == Secret(derived_credentials("acme")["client_secret"])
    foreign = {tokens[o] for o in scenario.others("acme")} | {Secret(derived_credentials(o)["client_secret"])
                                                             for o in scenario.others("acme")}
    held = {acme.get(name) for name in acme.names()}
    assert tokens["acme"] in held and not held & foreign
    # Another workspace's token, even in the environment under its own prefix, is not readable from acme's store.
    leaked = {**environ, "WELL_SECRET_GLOBEX__QONTO_REFRESH_TOKEN": tokens["globex"].reveal()}  # type: ignore
    assert secret_store_for(scenario.workspaces["acme"].settings, leaked).get(QONTO_REFRESH_TOKEN) == tokens["acme"]


def test_a_bare_secret_variable_is_refused_with_several_workspaces(scenario: Scenario,
                                                                    deployment_env: dict[str, str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    token = "bare-token-that-would-reach-every-company"
    refused = well(scenario.fleet, "--workspace", "acme", "secrets", "list", WELL_SECRET_QONTO_REFRESH_TOKEN=token)
    assert refused.exit_code != 0
    message = " ".join(refused.output.split())
    assert ("WELL_SECRET_QONTO_REFRESH_TOKEN is set but there are 3 workspaces (acme, globex, initech)"
            in message), message
    assert "WELL_SECRET_ACME__QONTO_REFRESH_TOKEN" in message and token not in message
    # acme's sensor, in a process where it is set, asks Qonto nothing and says why.
    monkeypatch.setenv("WELL_SECRET_QONTO_REFRESH_TOKEN", token)
    sandbox = scenario.fleet.qonto
    before = sandbox.stats(org="acme")["requests"]
    skipped = skip_text(tick(scenario.bundles["acme"], scenario.instance, scenario.cursors["acme"]))
    assert "secret store cannot be read" in skipped and "WELL_SECRET_ACME__QONTO_REFRESH_TOKEN" in skipped
    assert token not in skipped
    assert sandbox.stats(org="acme")["requests"] == before


# -- the Qonto sandbox refuses crossing ------------------------------------------------------------------------
def test_acmes_client_cannot_reach_globex(scenario: Scenario, deployment_env: dict[str, str],
                                          tmp_path: Path) -> None:
    sandbox, acme_qonto = scenario.fleet.qonto, scenario.bundles["acme"].resources.qonto
    globex = scenario.fleet_ws("globex")
    globex_token = secret_store_for(scenario.workspaces["globex"].settings).get(QONTO_REFRESH_TOKEN)
    assert globex_token is not None
    globex_requests = sandbox.stats(org="globex")["requests"]

    # acme's client with acme's own token: acme's organisation, and globex's record is unknown to it (404).
    acme_org = json.loads((scenario.fleet_ws("acme").dataset / "qonto" / "organization.json").read_text())
    with acme_qonto.build_client() as client:
        assert client.get_organization()["id"] == acme_org["organization"]["id"]
        with pytest.raises(QontoNotFoundError):
            client.get_supplier_invoice(sorted(globex.record_ids)[0])

    # acme's client (its client id and secret) given globex's refresh token: invalid_grant.
    borrowed = SecretStore(tmp_path / "borrowed" / "secrets.enc.json", environ={})
    borrowed.set(QONTO_CLIENT_SECRET, derived_credentials("acme")["client_secret"])
    borrowed.set(QONTO_REFRESH_TOKEN, globex_token)
    with pytest.raises(QontoAuthError) as refused, open_client(acme_qonto.connection(), borrowed) as client:
        client.get_organization()
    assert refused.value.code == "invalid_grant", refused.value
    assert sandbox.stats(org="globex")["requests"] == globex_requests  # globex's organisation was never asked
