"""What each table and column of Well's DuckDB file holds, and why: the words of `docs/tables.md`.

`tables_doc.py` renders that page from the schema a fresh database gets through `migrate()` (names, types,
nullability, keys, indexes, read from DuckDB's catalog) and from these descriptions, and refuses to render while a
table or column has none or a description names one the schema lacks. So a column added by a migration without a
description fails the tests (`well_pipeline_tests/adapters/storage/duckdb/test_tables_doc.py`).

Why not `COMMENT ON` in the file itself: DuckDB has no comment clause in `CREATE TABLE`, and 160 `COMMENT ON`
statements cost about 55 ms on every new database file (measured: 80 ms → 135 ms for a fresh migrate), tens of
seconds across the test suite, for words a person finds in docs/tables.md anyway.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """One table: what a row is (and who writes it), then one sentence per column."""

    about: str
    columns: dict[str, str]


_HOLD_CODES = ("DELIVERY_UNCONFIRMED, CHANGED_AFTER_DELIVERY, REFUSED_BY_SERVER, DUPLICATE_OF_DELIVERED, "
               "IN_MELIO_LEDGER or DOCUMENT_NOT_SENDABLE")

TABLES: dict[str, Table] = {
    "qonto_supplier_invoices": Table(
        "One current row per Qonto supplier invoice, keyed on Qonto's id: the fields Well reads, parsed, and the "
        "record as received. Written by ingest (sync runs and backfills); a changed record is updated in place "
        "with its version raised, its earlier versions kept in `qonto_supplier_invoice_versions`.",
        {
            "id": "Qonto's supplier invoice id: the key every other table calls `qonto_id`.",
            "organization_id": "The Qonto organisation the invoice belongs to.",
            "status": "Qonto's status as received (`to_review`, `to_approve`, `awaiting_payment`, `pending`, "
                      "`scheduled`, `paid`, `archived`, `rejected`, `discarded`...); scoring checks it against "
                      "the settings `eligible_statuses` and `auto_link_paid_in_qonto`.",
            "supplier_name": "The supplier name Qonto's OCR read, with surrounding spaces stripped and nothing "
                             "else changed; NULL when Qonto read none.",
            "invoice_number": "The invoice number Qonto read (NULL when none); with the vendor it is the key that "
                              "stops one bill being sent twice.",
            "total_amount": "The total Qonto read, exact (Qonto sends a decimal string); NULL when it read none.",
            "currency": "The ISO 4217 code of `total_amount`, upper case.",
            "payable_amount": "What Qonto says is left to pay (its currency is in `raw_json`).",
            "issue_date": "The invoice's issue date, as Qonto read it.",
            "due_date": "The invoice's due date, as Qonto read it (a missing one lowers the completeness score).",
            "iban": "The supplier IBAN Qonto read from the invoice, as received; scoring compares it with the "
                    "Melio directory and with the IBANs people confirmed (a change is a possible fraud).",
            "vat_number": "The supplier VAT number Qonto read, as received.",
            "attachment_id": "Qonto's id of the invoice's document (NULL when it has none); its file, once "
                             "fetched, is described in `qonto_attachments`.",
            "file_name": "The document's file name as the invoice lists it.",
            "attachment_category": "Qonto's classification of the document (e.g. `INVOICE`, `EXPENSE_RECEIPT`, "
                                   "`OTHER_NON_FINANCIAL_DOCUMENT`).",
            "has_duplicates": "Qonto's own possible-duplicate flag: scoring holds such an invoice for review "
                              "(`QONTO_DUPLICATE_FLAG`).",
            "is_credit_note": "True for a credit note, which is not a bill to pay: scoring refuses it "
                              "(`CREDIT_NOTE`).",
            "is_attachment_non_financial": "True when Qonto classed the document as non-financial: scoring "
                                           "refuses it (`NON_FINANCIAL_DOCUMENT`).",
            "created_at": "When the record was created in Qonto (UTC).",
            "updated_at": "When Qonto last changed the record (UTC; `created_at` when Qonto sends none): an "
                          "older copy never overwrites a newer one.",
            "created_date": "The UTC date of `created_at`: the daily partition the record belongs to.",
            "unknown_fields": "Fields Qonto sent that Well does not know (schema drift): reported, kept in "
                              "`raw_json`, never a reason to reject the record.",
            "record_hash": "sha256 of the record's canonical JSON (sorted keys): only a different hash counts as "
                           "a change, so re-reading a window rewrites nothing.",
            "version": "1 for the first copy stored, one more for each changed copy; scoring, review decisions and "
                       "the outbox name the version they acted on.",
            "raw_json": "The record exactly as Qonto sent it, every field included (keys sorted).",
            "first_seen_at": "When Well first stored the record (UTC).",
            "last_changed_at": "When Well last stored a new version of it (UTC): a run finds the days it "
                               "rewrote from it.",
            "supplier_id": "Qonto's own supplier id (an optional field): a stable counterparty key that scoring "
                           "trusts once a person or a delivery confirmed it.",
            "issuer_name": "The issuer's legal name Qonto read from a structured e-invoice (an optional field).",
            "payment_links": "Which of `request_transfer`, `transfer_ids`, `matched_transactions` the record "
                             "fills, in that order: it is paid or being paid in Qonto (`ALREADY_PAID_IN_QONTO`, "
                             "`PAYMENT_IN_QONTO`).",
        },
    ),
    "qonto_supplier_invoice_versions": Table(
        "Every version of every Qonto record Well stored, the current one included: the field-by-field change "
        "behind a `CHANGED_AFTER_DELIVERY` hold is computed from it.",
        {
            "id": "The Qonto record (`qonto_supplier_invoices.id`).",
            "version": "The version number this row holds.",
            "record_hash": "sha256 of this version's canonical JSON.",
            "updated_at": "Qonto's `updated_at` of this version (UTC).",
            "raw_json": "This version exactly as Qonto sent it.",
            "recorded_at": "When Well stored this version (UTC).",
        },
    ),
    "qonto_attachments": Table(
        "One row per document Well downloaded from Qonto: its digest and where its bytes are. The bytes themselves "
        "are a file in the attachment store, stored once per distinct content.",
        {
            "attachment_id": "Qonto's attachment id (`qonto_supplier_invoices.attachment_id`).",
            "sha256": "sha256 of the downloaded bytes: the file's name in the attachment store, checked again "
                      "before the document is e-mailed.",
            "size_bytes": "The document's size in bytes.",
            "content_type": "The media type Qonto declared (or its download's `Content-Type`); delivery checks "
                            "the first bytes agree with it.",
            "file_name": "The attachment's file name as Qonto gives it.",
            "blob_path": "The document's path inside the attachment store (`sha256/ab/cd/<sha256>`): under "
                         "`<data_dir>/attachments` by default, under the prefix of an `s3://` `attachments_url`.",
            "fetched_at": "When it was downloaded (UTC); a document arriving after its record was scored makes "
                          "that day be scored again.",
        },
    ),
    "qonto_attachment_failures": Table(
        "Documents that could not be downloaded: kept visible (the `every_invoice_has_its_document` check) and "
        "retried by the next run; the row goes when the download succeeds.",
        {
            "attachment_id": "Qonto's attachment id.",
            "invoice_id": "A Qonto record that points at the document.",
            "reason": "Why the last attempt failed (e.g. the HTTP status, the size limit `attachment_max_mb`, the "
                      "request deadline).",
            "attempts": "How many runs have failed to fetch it.",
            "last_failed_at": "When the last attempt failed (UTC).",
        },
    ),
    "qonto_rejected_records": Table(
        "Records Qonto sent that Well could not parse (a malformed core field): never dropped, kept with the "
        "reason; the row goes when a later copy of the record parses.",
        {
            "reject_key": "The record's Qonto id when one could be read, else `sha256:` and the hash of its text.",
            "record_id": "The Qonto id, when one could be read.",
            "reason": "What is wrong, naming the field (e.g. `created_at: expected an RFC 3339 timestamp with "
                      "offset`).",
            "raw_text": "The record as received, as JSON text.",
            "first_seen_at": "When Well first received it unparseable (UTC).",
            "last_seen_at": "When Well last received it (UTC).",
            "seen_count": "How many times it was received unparseable.",
        },
    ),
    "sync_state": Table(
        "Named markers, today one: the copy of the Qonto sync marker that each successful sync writes (the live "
        "marker is in the sync sensor's cursor). `well qonto status` shows it, a sync launched by hand without a "
        "window starts from it, and `well qonto rewind` moves it back.",
        {
            "name": "The marker's name (`qonto.supplier_invoices.updated_at` for the sync marker).",
            "value": "Its value: for the sync marker the ISO 8601 time with offset before which every Qonto "
                     "update is stored.",
            "updated_at": "When it was last written (UTC).",
        },
    ),
    "melio_vendors": Table(
        "The Melio vendor directory, replaced as a whole from each load of the vendors CSV export "
        "(`melio_vendor_directory` asset); rows that failed are in `melio_input_issues`.",
        {
            "vendor_id": "Melio's vendor id, or `csv:` and a hash of name, IBAN and VAT number when the export "
                         "has none (never sent to Melio).",
            "company_name": "The vendor's name as exported (NFC, invisible characters removed).",
            "email": "The vendor's e-mail address, lower case (its domain is evidence in scoring).",
            "iban": "The vendor's IBAN, compact upper case, having passed its checksum (a failing one is dropped "
                    "with a warning).",
            "vat_number": "The vendor's VAT number, upper case without spaces or dots.",
            "line": "The CSV line where the row starts.",
            "source_sha256": "sha256 of the export file loaded: which export this row came from.",
            "loaded_at": "When the export was loaded (UTC); scoring re-scores what it scored before a newer load.",
            "conflict": "Set when the export lists this vendor id again with another IBAN or VAT number: its "
                        "invoices are held (`VENDOR_DIRECTORY_CONFLICT`) until the export is fixed.",
        },
    ),
    "melio_bills": Table(
        "The Melio ledger of existing bills, replaced as a whole from each load of the bills CSV export "
        "(`melio_ledger` asset): an invoice found here is linked (`already_in_melio`), never sent.",
        {
            "bill_id": "Melio's bill id.",
            "company_name": "The vendor's name on the bill.",
            "invoice_number": "The bill's invoice number: with the vendor, the key Qonto records are matched on.",
            "invoice_date": "The bill's invoice date.",
            "due_date": "The bill's due date.",
            "amount": "The bill's amount, exact.",
            "currency": "The bill's currency.",
            "status": "Melio's status of the bill, as exported.",
            "line": "The CSV line where the row starts.",
            "source_sha256": "sha256 of the export file loaded.",
            "loaded_at": "When the export was loaded (UTC).",
        },
    ),
    "melio_input_issues": Table(
        "What a person should fix in the Melio exports, replaced per file on each load.",
        {
            "source": "Which export: `vendors` or `bills`.",
            "line": "The CSV line concerned; NULL for a remark about the whole file.",
            "severity": "`error` (the row was skipped), `warning` (kept with a value dropped) or `note` (about the "
                        "file: encoding, delimiter, ignored columns).",
            "message": "The file, the line and what is wrong.",
            "loaded_at": "When the export was loaded (UTC).",
        },
    ),
    "scored_matches": Table(
        "One current decision per Qonto record: which Melio vendor it is and whether it may go to Melio, with the "
        "score's parts, reasons and ranked candidates. Rewritten for a day each time scoring runs on it; a "
        "person's decision in `review_decisions` is applied on top.",
        {
            "qonto_id": "The Qonto record.",
            "created_date": "The record's partition day (its rows are replaced together).",
            "record_version": "The version of the record that was scored: delivery sends only that version.",
            "decision": "`auto_link` (sent without a person), `review` (a person decides), `refused`, "
                        "`already_in_melio` (the ledger has it: never sent) or `manual_link` (a person approved or "
                        "pinned it: sent).",
            "score": "The final score in [0, 1], after the hard-rule caps; compared with `auto_link_threshold` and "
                     "`review_threshold`.",
            "completeness": "The field-completeness part in [0, 1] (supplier, amount, currency, due date, number, "
                            "a sendable document).",
            "strength": "The counterparty-strength part in [0, 1]: how surely the record is the chosen vendor's.",
            "policy_fit": "The policy-fit part in [0, 1] (status, currency, amount limit, credit note, paid in "
                          "Qonto, duplicates, blocked vendors).",
            "raw_score": "strength × completeness × policy fit, before any hard-rule cap.",
            "vendor_id": "The Melio vendor it resolved to, or the one a person pinned; NULL when none.",
            "vendor_name": "That vendor's company name in the directory.",
            "melio_bill_id": "The Melio ledger bill it matches (`already_in_melio`).",
            "hard_rules": "The hard safety rules that capped the score (e.g. `BANK_DETAILS_CHANGED`, "
                          "`IBAN_NOT_VERIFIED`, `ALREADY_PAID_IN_QONTO`), the most severe first.",
            "reasons": "JSON list of `{code, part, text}`: every reason behind the parts and the decision "
                       "(codes in docs/scoring.md).",
            "candidates": "JSON list of the best-ranked vendors (at most 5): `vendor_id`, `company_name`, "
                          "`probability`, `name_similarity`, `evidence`, `log_odds`.",
            "scored_at": "When it was scored (UTC).",
        },
    ),
    "review_decisions": Table(
        "What people decided in the review queue (`well review approve|pin|refuse`): append-only, the latest row "
        "per record wins and survives re-scoring, backfills and disconnects.",
        {
            "decision_id": "Increasing id (sequence `review_decision_ids`): the highest per record is its "
                           "current decision.",
            "qonto_id": "The Qonto record decided on.",
            "action": "`approve` (the scored vendor), `pin` (a vendor chosen by hand) or `refuse`.",
            "vendor_id": "The vendor approved or pinned; NULL for a refusal.",
            "reason": "The reason given with `refuse`.",
            "author": "Who decided (`--author`, default `$WELL_REVIEWER` or the user name).",
            "decided_at": "When (UTC).",
            "record_version": "The record's version the person saw: a decision no longer applies once Qonto "
                              "changes the record.",
            "supplier_name": "The record's supplier name at the time: an approval or pin teaches scoring that "
                             "this name is this vendor.",
            "iban": "The record's IBAN at the time: an approval or pin confirms it for the vendor.",
        },
    ),
    "outbox": Table(
        "One row per Qonto record Well has e-mailed or is e-mailing to the Melio inbox: claimed before the e-mail "
        "leaves, completed after the server's answer, so each record version is sent once.",
        {
            "qonto_id": "The Qonto record.",
            "record_version": "The version handed over (or being handed over), or a later one a person applied "
                              "to the bill in Melio by hand (`well delivery dismiss`): the version Melio holds.",
            "state": "`sending` (claimed; the e-mail may be leaving), `sent`, `temporary_failure` (retried by the "
                     "next run), `permanent_failure` (refused by the server: held) or `unconfirmed` (outcome "
                     "unknown: held, never re-sent on its own).",
            "message_id": "The e-mail's deterministic Message-ID, `<well.{qonto id}.v{version}@{sender domain}>`: "
                          "what to look for in the relay's sent mail when an outcome is unknown.",
            "to_address": "The Melio inbox address it was sent to.",
            "vendor_id": "The Melio vendor the record was linked to: a sent record teaches scoring its supplier "
                         "name and IBAN.",
            "dedup_vendor": "With `dedup_number`, the bill's identity: the vendor id, or the normalised supplier "
                            "name without one. Another record with the same pair is held "
                            "(`DUPLICATE_OF_DELIVERED`).",
            "dedup_number": "The normalised invoice number of that identity (NULL without a number).",
            "attachment_sha256": "sha256 of the document attached.",
            "attempts": "SMTP attempts so far, retries included.",
            "last_code": "The last SMTP reply code; NULL when there was no answer.",
            "last_reply": "The last SMTP reply (at most 2,000 characters), or what happened instead (an "
                          "interrupted run, a person's confirmation or dismissal).",
            "created_at": "When the record was first claimed (UTC).",
            "updated_at": "When the row last changed (UTC).",
            "sent_at": "When the server accepted it, or a person confirmed it was in Melio (UTC).",
        },
    ),
    "delivery_attempts": Table(
        "Every hand-over to the mail server and its outcome, append-only: the audit behind the outbox, the "
        "`no_record_sent_twice` check and the rolling relay quotas.",
        {
            "qonto_id": "The Qonto record.",
            "record_version": "The version concerned.",
            "message_id": "The Message-ID of the e-mail.",
            "outcome": "`sent`, `temporary_failure`, `permanent_failure`, `unconfirmed` (connection lost after the "
                       "hand-over, or a run that died mid-send), `deferred` (claim given back, nothing handed "
                       "over: a quota answer or a connection problem), `confirmed_by_person` or "
                       "`change_applied_by_person` (`well delivery dismiss`: the change was made in Melio by hand; "
                       "nothing was sent).",
            "code": "The SMTP reply code, when there was one.",
            "reply": "The server's reply, or the reason (at most 2,000 characters).",
            "resend": "True when the attempt used a person's re-send approval.",
            "attempted_at": "When (UTC); `sent` and `unconfirmed` rows count against `smtp_max_per_minute` and "
                            "`smtp_max_per_day`.",
        },
    ),
    "delivery_holds": Table(
        "Records delivery keeps back for a person, with the reason (`well delivery held`); a record's hold is "
        "replaced each time delivery plans it, removed by `well delivery confirm` or `dismiss`, and lifted by the "
        "next delivery run once scoring no longer releases the record.",
        {
            "qonto_id": "The Qonto record held.",
            "code": f"Why, as a code: {_HOLD_CODES} (what to do with each: docs/troubleshooting.md).",
            "reason": "Why, in words, with the next step.",
            "related_qonto_id": "For `DUPLICATE_OF_DELIVERED`: the record already sent with the same vendor and "
                                "invoice number.",
            "changed_fields": "For `CHANGED_AFTER_DELIVERY`: JSON `{delivered_version, current_version, fields: "
                              "{name: {before, after}}}`.",
            "updated_at": "When the hold was written (UTC).",
        },
    ),
    "resend_approvals": Table(
        "A person's approval to send one version of a record again, or despite a hold (`well delivery resend`), "
        "and when a delivery run used it.",
        {
            "qonto_id": "The Qonto record.",
            "record_version": "The version approved (the current one when approved).",
            "author": "Who approved it.",
            "approved_at": "When (UTC).",
            "used_at": "When a delivery run used it (UTC); NULL while unused (set back to NULL when nothing could "
                       "be handed over).",
        },
    ),
    "schema_migrations": Table(
        "The schema versions applied to this file, one row each (schema.py's MIGRATIONS; a writable open applies "
        "the missing ones in order).",
        {
            "version": "The migration's number in `MIGRATIONS`.",
            "applied_at": "When it was applied (DuckDB's `now()`, in the session's time zone).",
        },
    ),
}
