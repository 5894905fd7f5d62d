"""A PostgreSQL workspace worth moving, and what it reads back through the storage interface (`well workspace
move` between regions on other DSNs: postgres/schema_move.py, cli/workspace.py).

Two databases created on the one test server stand for two regions' DSNs: to PostgreSQL they are as separate as
two servers (no cross-database query, advisory locks per database), which is what the move relies on.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql

from well_pipeline.adapters.storage import Storage
from well_pipeline.core.delivery.plan import Action, HoldCode, OutboxState, Planned
from well_pipeline_tests.support.delivery_records import release_records
from well_pipeline_tests.support.postgres_server import PostgresServer

TO = "acme-ap@invoicesmelio.com"
IDS = ("q-sent", "q-lost", "q-wait", "q-review", "q-refused")


def region_databases(server: PostgresServer, *regions: str) -> dict[str, str]:
    """One new database per region on `server`; their DSNs by region."""
    tag = uuid.uuid4().hex[:8]
    names = {region: f"region_{region}_{tag}" for region in regions}
    with psycopg.connect(server.dsn(), autocommit=True) as con:
        for name in names.values():
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return {region: server.dsn(name) for region, name in names.items()}


def fill_workspace(storage: Storage) -> None:
    """Invoices with documents, scored matches, review decisions, outbox rows (sent, unconfirmed), delivery
    attempts, holds and a sync marker: every kind of row a workspace has."""
    rows = release_records(storage, ("q-sent", "auto_link", 0), ("q-lost", "auto_link", 1), ("q-wait", "auto_link", 2),
                           ("q-review", "review", 3), ("q-refused", "review", 4))
    storage.matches.record_decision(qonto_id="q-refused", action="refuse", author="ops", reason="not a bill")
    for qonto_id, state, hold in (
            ("q-sent", OutboxState.SENT, None),
            ("q-lost", OutboxState.UNCONFIRMED,
             Planned("q-lost", Action.HOLD, HoldCode.DELIVERY_UNCONFIRMED, "connection lost after the final dot"))):
        row, message_id = rows[qonto_id], f"<well.{qonto_id}.v1@x>"
        storage.outbox.mark_sending(row, message_id=message_id, to_address=TO, dedup=("V-1", row.invoice_number or ""),
                                    resend=False)
        storage.outbox.complete(row, message_id=message_id, state=state, code=250, reply="OK", attempts=1,
                                resend=False, hold=hold)
    storage.outbox.replace_holds(["q-wait"],
                                 [Planned("q-wait", Action.HOLD, HoldCode.IN_MELIO_LEDGER, "in the ledger")])
    storage.invoices.set_marker("sync_cursor", "2024-01-01T00:00:00Z")


def snapshot(storage: Storage) -> dict[str, Any]:
    """What the workspace reads back through the storage interface (the pipeline's and the CLI's reads)."""
    return {"invoices": storage.invoices.count(), "digests": storage.invoices.attachment_digests(),
            "marker": storage.invoices.get_marker("sync_cursor"), "queue": storage.matches.queue(),
            "details": {q: storage.matches.details(q) for q in IDS},
            "history": {q: storage.matches.decision_history(q) for q in IDS},
            "entries": storage.outbox.entries(), "held": storage.outbox.held(100), "status": storage.outbox.status(),
            "audit": storage.outbox.send_audit(), "delivered": storage.outbox.delivered_keys(),
            "versions": storage.outbox.record_versions({q: [1] for q in IDS})}


def schema_exists(dsn: str, schema: str) -> bool:
    with psycopg.connect(dsn) as con:
        return con.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", [schema]).fetchone()[0]


def row_total(dsn: str, schema: str, tables: tuple[str, ...]) -> int:
    """Rows in `tables` of `schema` (0 when the schema is absent)."""
    if not schema_exists(dsn, schema):
        return 0
    with psycopg.connect(dsn) as con:
        return sum(con.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, t))).fetchone()[0]
                   for t in tables)
