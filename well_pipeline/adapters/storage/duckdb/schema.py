"""Well's DuckDB schema, as ordered migrations (append new versions; never edit an applied one).

Timestamps are stored as naive UTC `TIMESTAMP` (the Qonto client converts every offset to UTC first).
Amounts are `DECIMAL(38, 9)`: exact for any Qonto decimal string, never a float.
"""

from __future__ import annotations

# Exactly the characters Python's `str.strip()` removes (str.isspace), as an RE2 class: the backfill below
# must produce the values the parser would (adapters/qonto/optional_fields.py).
_SPACE = r"[\s\x{0b}\x{1c}-\x{1f}\x{85}\pZ]"


def _json_id(key: str) -> str:
    """SQL for a string field of `raw_json` as the parser reads it: stripped, empty or non-string is NULL."""
    return (f"CASE WHEN json_type(raw_json, '$.{key}') = 'VARCHAR' THEN nullif(regexp_replace("
            f"raw_json->>'$.{key}', '^{_SPACE}+|{_SPACE}+$', '', 'g'), '') END")


def _json_present(key: str) -> str:
    """SQL true when `raw_json.key` is neither absent, null nor `[]` (malformed values count: conservative)."""
    return (f"coalesce(json_type(raw_json, '$.{key}') <> 'NULL' AND NOT (json_type(raw_json, '$.{key}') = 'ARRAY' "
            f"AND json_array_length(raw_json, '$.{key}') = 0), false)")


MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            # One current row per Qonto supplier invoice id.
            """
            CREATE TABLE qonto_supplier_invoices (
                id VARCHAR PRIMARY KEY,
                organization_id VARCHAR,
                status VARCHAR,
                supplier_name VARCHAR,
                invoice_number VARCHAR,
                total_amount DECIMAL(38, 9),
                currency VARCHAR,
                payable_amount DECIMAL(38, 9),
                issue_date DATE,
                due_date DATE,
                iban VARCHAR,
                vat_number VARCHAR,
                attachment_id VARCHAR,
                file_name VARCHAR,
                attachment_category VARCHAR,
                has_duplicates BOOLEAN,
                is_credit_note BOOLEAN,
                is_attachment_non_financial BOOLEAN,
                created_at TIMESTAMP NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                created_date DATE NOT NULL,
                unknown_fields VARCHAR[],
                record_hash VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                raw_json JSON NOT NULL,
                first_seen_at TIMESTAMP NOT NULL,
                last_changed_at TIMESTAMP NOT NULL
            )
            """,
            "CREATE INDEX qonto_supplier_invoices_created_date ON qonto_supplier_invoices (created_date)",
            # Every version Well has seen, so a change after delivery can be shown field by field.
            """
            CREATE TABLE qonto_supplier_invoice_versions (
                id VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                record_hash VARCHAR NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                raw_json JSON NOT NULL,
                recorded_at TIMESTAMP NOT NULL,
                PRIMARY KEY (id, version)
            )
            """,
            # Documents, stored once each (content-addressed files; see AttachmentStore).
            """
            CREATE TABLE qonto_attachments (
                attachment_id VARCHAR PRIMARY KEY,
                sha256 VARCHAR NOT NULL,
                size_bytes BIGINT NOT NULL,
                content_type VARCHAR,
                file_name VARCHAR,
                blob_path VARCHAR NOT NULL,
                fetched_at TIMESTAMP NOT NULL
            )
            """,
            # Attachments that could not be fetched: kept visible and retried on the next run.
            """
            CREATE TABLE qonto_attachment_failures (
                attachment_id VARCHAR PRIMARY KEY,
                invoice_id VARCHAR,
                reason VARCHAR NOT NULL,
                attempts INTEGER NOT NULL,
                last_failed_at TIMESTAMP NOT NULL
            )
            """,
            # Records Qonto sent that Well could not parse: never dropped, the reason is kept.
            """
            CREATE TABLE qonto_rejected_records (
                reject_key VARCHAR PRIMARY KEY,
                record_id VARCHAR,
                reason VARCHAR NOT NULL,
                raw_text VARCHAR NOT NULL,
                first_seen_at TIMESTAMP NOT NULL,
                last_seen_at TIMESTAMP NOT NULL,
                seen_count INTEGER NOT NULL
            )
            """,
            # Named markers (the Qonto sync marker lives here).
            """
            CREATE TABLE sync_state (
                name VARCHAR PRIMARY KEY,
                value VARCHAR NOT NULL,
                updated_at TIMESTAMP NOT NULL
            )
            """,
        ],
    ),
    (
        2,
        [
            # The Melio side, replaced as a whole from each CSV export (rows that failed are in melio_input_issues).
            """
            CREATE TABLE melio_vendors (
                vendor_id VARCHAR PRIMARY KEY,
                company_name VARCHAR NOT NULL,
                email VARCHAR,
                iban VARCHAR,
                vat_number VARCHAR,
                line INTEGER,
                source_sha256 VARCHAR NOT NULL,
                loaded_at TIMESTAMP NOT NULL
            )
            """,
            """
            CREATE TABLE melio_bills (
                bill_id VARCHAR PRIMARY KEY,
                company_name VARCHAR NOT NULL,
                invoice_number VARCHAR NOT NULL,
                invoice_date DATE,
                due_date DATE,
                amount DECIMAL(38, 9),
                currency VARCHAR,
                status VARCHAR,
                line INTEGER,
                source_sha256 VARCHAR NOT NULL,
                loaded_at TIMESTAMP NOT NULL
            )
            """,
            """
            CREATE TABLE melio_input_issues (
                source VARCHAR NOT NULL,
                line INTEGER,
                severity VARCHAR NOT NULL,
                message VARCHAR NOT NULL,
                loaded_at TIMESTAMP NOT NULL
            )
            """,
            # One current decision per Qonto invoice, recomputed on every materialisation of its partition.
            """
            CREATE TABLE scored_matches (
                qonto_id VARCHAR PRIMARY KEY,
                created_date DATE NOT NULL,
                record_version INTEGER NOT NULL,
                decision VARCHAR NOT NULL,
                score DOUBLE NOT NULL,
                completeness DOUBLE NOT NULL,
                strength DOUBLE NOT NULL,
                policy_fit DOUBLE NOT NULL,
                raw_score DOUBLE NOT NULL,
                vendor_id VARCHAR,
                vendor_name VARCHAR,
                melio_bill_id VARCHAR,
                hard_rules VARCHAR[] NOT NULL,
                reasons JSON NOT NULL,
                candidates JSON NOT NULL,
                scored_at TIMESTAMP NOT NULL
            )
            """,
            "CREATE INDEX scored_matches_created_date ON scored_matches (created_date)",
            # What people decided in the review queue: append-only, the latest row per record wins.
            """
            CREATE SEQUENCE review_decision_ids START 1
            """,
            """
            CREATE TABLE review_decisions (
                decision_id BIGINT PRIMARY KEY DEFAULT nextval('review_decision_ids'),
                qonto_id VARCHAR NOT NULL,
                action VARCHAR NOT NULL,
                vendor_id VARCHAR,
                reason VARCHAR,
                author VARCHAR NOT NULL,
                decided_at TIMESTAMP NOT NULL,
                record_version INTEGER,
                supplier_name VARCHAR,
                iban VARCHAR
            )
            """,
        ],
    ),
    (
        3,
        [
            # The outbox: one row per Qonto record, written before its e-mail leaves, completed after.
            """
            CREATE TABLE outbox (
                qonto_id VARCHAR PRIMARY KEY,
                record_version INTEGER NOT NULL,
                state VARCHAR NOT NULL,
                message_id VARCHAR NOT NULL,
                to_address VARCHAR NOT NULL,
                vendor_id VARCHAR,
                dedup_vendor VARCHAR,
                dedup_number VARCHAR,
                attachment_sha256 VARCHAR,
                attempts INTEGER NOT NULL,
                last_code INTEGER,
                last_reply VARCHAR,
                created_at TIMESTAMP NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                sent_at TIMESTAMP
            )
            """,
            # Every hand-over to the mail server and its outcome (the audit trail behind the outbox).
            """
            CREATE TABLE delivery_attempts (
                qonto_id VARCHAR NOT NULL,
                record_version INTEGER NOT NULL,
                message_id VARCHAR NOT NULL,
                outcome VARCHAR NOT NULL,
                code INTEGER,
                reply VARCHAR,
                resend BOOLEAN NOT NULL,
                attempted_at TIMESTAMP NOT NULL
            )
            """,
            # Records delivery holds back for a person, with the reason (replaced on every run).
            """
            CREATE TABLE delivery_holds (
                qonto_id VARCHAR PRIMARY KEY,
                code VARCHAR NOT NULL,
                reason VARCHAR NOT NULL,
                related_qonto_id VARCHAR,
                changed_fields JSON,
                updated_at TIMESTAMP NOT NULL
            )
            """,
            # A person's explicit approval to send a record (version) again, and its use.
            """
            CREATE TABLE resend_approvals (
                qonto_id VARCHAR NOT NULL,
                record_version INTEGER NOT NULL,
                author VARCHAR NOT NULL,
                approved_at TIMESTAMP NOT NULL,
                used_at TIMESTAMP,
                PRIMARY KEY (qonto_id, record_version)
            )
            """,
        ],
    ),
    (
        4,
        [
            # Qonto's optional supplier fields that scoring reads (issue 7); the rest stay in raw_json.
            "ALTER TABLE qonto_supplier_invoices ADD COLUMN supplier_id VARCHAR",
            "ALTER TABLE qonto_supplier_invoices ADD COLUMN issuer_name VARCHAR",
            # Names among request_transfer, transfer_ids, matched_transactions that are non-empty, in that order.
            "ALTER TABLE qonto_supplier_invoices ADD COLUMN payment_links VARCHAR[]",
            # Backfill from raw_json, so an upgraded database scores right without a re-sync (an unchanged record
            # is never rewritten by the next sync). Same rules as the parser; a test compares the two.
            f"""
            UPDATE qonto_supplier_invoices SET
                supplier_id = {_json_id("supplier_id")},
                issuer_name = {_json_id("issuer_name")},
                payment_links = list_concat(list_concat(
                    CASE WHEN {_json_present("request_transfer")} THEN ['request_transfer'] ELSE []::VARCHAR[] END,
                    CASE WHEN {_json_present("transfer_ids")} THEN ['transfer_ids'] ELSE []::VARCHAR[] END),
                    CASE WHEN {_json_present("matched_transactions")} OR {_json_present("matched_transactions_ids")}
                         THEN ['matched_transactions'] ELSE []::VARCHAR[] END)
            """,
        ],
    ),
    (
        5,
        [
            # A vendor id the Melio export lists twice with different identifiers: its invoices are held.
            "ALTER TABLE melio_vendors ADD COLUMN conflict VARCHAR",
        ],
    ),
]
