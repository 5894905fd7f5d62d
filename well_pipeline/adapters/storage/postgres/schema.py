"""Well's PostgreSQL schema, as ordered migrations (append new versions; never edit an applied one).

The same tables and columns, in the same order, as the DuckDB schema (`duckdb/schema.py`; a test compares the
two, so `docs/tables.md` describes both). Types are PostgreSQL's: `text` for VARCHAR, `numeric(38, 9)` amounts
(exact, never a float), naive UTC `timestamp`, `text[]` lists, `json` (kept verbatim, like DuckDB's JSON).

Numbering: the store starts at version 5, DuckDB's schema version 5 in one step (there is no older PostgreSQL
data to upgrade, so DuckDB's backfills have nothing to do here). A later schema change gets the same version
number in both lists, so one version means one schema whichever database holds it.
"""

from __future__ import annotations

import re

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        5,
        [
            """
            CREATE TABLE qonto_supplier_invoices (
                id text PRIMARY KEY,
                organization_id text,
                status text,
                supplier_name text,
                invoice_number text,
                total_amount numeric(38, 9),
                currency text,
                payable_amount numeric(38, 9),
                issue_date date,
                due_date date,
                iban text,
                vat_number text,
                attachment_id text,
                file_name text,
                attachment_category text,
                has_duplicates boolean,
                is_credit_note boolean,
                is_attachment_non_financial boolean,
                created_at timestamp NOT NULL,
                updated_at timestamp NOT NULL,
                created_date date NOT NULL,
                unknown_fields text[],
                record_hash text NOT NULL,
                version integer NOT NULL,
                raw_json json NOT NULL,
                first_seen_at timestamp NOT NULL,
                last_changed_at timestamp NOT NULL,
                supplier_id text,
                issuer_name text,
                payment_links text[]
            )
            """,
            "CREATE INDEX qonto_supplier_invoices_created_date ON qonto_supplier_invoices (created_date)",
            """
            CREATE TABLE qonto_supplier_invoice_versions (
                id text NOT NULL,
                version integer NOT NULL,
                record_hash text NOT NULL,
                updated_at timestamp NOT NULL,
                raw_json json NOT NULL,
                recorded_at timestamp NOT NULL,
                PRIMARY KEY (id, version)
            )
            """,
            """
            CREATE TABLE qonto_attachments (
                attachment_id text PRIMARY KEY,
                sha256 text NOT NULL,
                size_bytes bigint NOT NULL,
                content_type text,
                file_name text,
                blob_path text NOT NULL,
                fetched_at timestamp NOT NULL
            )
            """,
            """
            CREATE TABLE qonto_attachment_failures (
                attachment_id text PRIMARY KEY,
                invoice_id text,
                reason text NOT NULL,
                attempts integer NOT NULL,
                last_failed_at timestamp NOT NULL
            )
            """,
            """
            CREATE TABLE qonto_rejected_records (
                reject_key text PRIMARY KEY,
                record_id text,
                reason text NOT NULL,
                raw_text text NOT NULL,
                first_seen_at timestamp NOT NULL,
                last_seen_at timestamp NOT NULL,
                seen_count integer NOT NULL
            )
            """,
            """
            CREATE TABLE sync_state (
                name text PRIMARY KEY,
                value text NOT NULL,
                updated_at timestamp NOT NULL
            )
            """,
            """
            CREATE TABLE melio_vendors (
                vendor_id text PRIMARY KEY,
                company_name text NOT NULL,
                email text,
                iban text,
                vat_number text,
                line integer,
                source_sha256 text NOT NULL,
                loaded_at timestamp NOT NULL,
                conflict text
            )
            """,
            """
            CREATE TABLE melio_bills (
                bill_id text PRIMARY KEY,
                company_name text NOT NULL,
                invoice_number text NOT NULL,
                invoice_date date,
                due_date date,
                amount numeric(38, 9),
                currency text,
                status text,
                line integer,
                source_sha256 text NOT NULL,
                loaded_at timestamp NOT NULL
            )
            """,
            """
            CREATE TABLE melio_input_issues (
                source text NOT NULL,
                line integer,
                severity text NOT NULL,
                message text NOT NULL,
                loaded_at timestamp NOT NULL
            )
            """,
            """
            CREATE TABLE scored_matches (
                qonto_id text PRIMARY KEY,
                created_date date NOT NULL,
                record_version integer NOT NULL,
                decision text NOT NULL,
                score double precision NOT NULL,
                completeness double precision NOT NULL,
                strength double precision NOT NULL,
                policy_fit double precision NOT NULL,
                raw_score double precision NOT NULL,
                vendor_id text,
                vendor_name text,
                melio_bill_id text,
                hard_rules text[] NOT NULL,
                reasons json NOT NULL,
                candidates json NOT NULL,
                scored_at timestamp NOT NULL
            )
            """,
            "CREATE INDEX scored_matches_created_date ON scored_matches (created_date)",
            "CREATE SEQUENCE review_decision_ids START 1",
            """
            CREATE TABLE review_decisions (
                decision_id bigint PRIMARY KEY DEFAULT nextval('review_decision_ids'),
                qonto_id text NOT NULL,
                action text NOT NULL,
                vendor_id text,
                reason text,
                author text NOT NULL,
                decided_at timestamp NOT NULL,
                record_version integer,
                supplier_name text,
                iban text
            )
            """,
            "CREATE INDEX review_decisions_qonto_id ON review_decisions (qonto_id)",
            """
            CREATE TABLE outbox (
                qonto_id text PRIMARY KEY,
                record_version integer NOT NULL,
                state text NOT NULL,
                message_id text NOT NULL,
                to_address text NOT NULL,
                vendor_id text,
                dedup_vendor text,
                dedup_number text,
                attachment_sha256 text,
                attempts integer NOT NULL,
                last_code integer,
                last_reply text,
                created_at timestamp NOT NULL,
                updated_at timestamp NOT NULL,
                sent_at timestamp
            )
            """,
            """
            CREATE TABLE delivery_attempts (
                qonto_id text NOT NULL,
                record_version integer NOT NULL,
                message_id text NOT NULL,
                outcome text NOT NULL,
                code integer,
                reply text,
                resend boolean NOT NULL,
                attempted_at timestamp NOT NULL
            )
            """,
            "CREATE INDEX delivery_attempts_qonto_id ON delivery_attempts (qonto_id)",
            """
            CREATE TABLE delivery_holds (
                qonto_id text PRIMARY KEY,
                code text NOT NULL,
                reason text NOT NULL,
                related_qonto_id text,
                changed_fields json,
                updated_at timestamp NOT NULL
            )
            """,
            """
            CREATE TABLE resend_approvals (
                qonto_id text NOT NULL,
                record_version integer NOT NULL,
                author text NOT NULL,
                approved_at timestamp NOT NULL,
                used_at timestamp,
                PRIMARY KEY (qonto_id, record_version)
            )
            """,
        ],
    ),
]

# Every text column compares and sorts byte by byte, as in DuckDB, whatever the database's default collation
# (`en_US.UTF-8` would sort "q-10" and "Q-2" differently from DuckDB, and from the tests).
_TEXT_TYPE = re.compile(r"\b(text(?:\[\])?)(?=[\s,])")
MIGRATIONS = [(version, [_TEXT_TYPE.sub(r'\1 COLLATE "C"', statement) for statement in statements])
              for version, statements in MIGRATIONS]
