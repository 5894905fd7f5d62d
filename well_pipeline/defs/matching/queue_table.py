"""The review queue as a typed Dagster table: the same columns, order and wording as `well review list`.

Every cell comes from `core/scoring/display.py`, so the UI and the CLI cannot disagree. Cells are plain text
(empty when a field is empty) or a finite float: a `MetadataValue.table` is stored as JSON, where NaN is not
valid and `None` would read as "None" in some views.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import dagster as dg

from well_pipeline.core.scoring.display import QueueEntry, time_text

QUEUE_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("flag", "string", "possible payment fraud (listed first), already paid / being paid in Qonto"),
    dg.TableColumn("qonto_id", "string", "settle with `well review show|approve|pin|refuse QONTO_ID`"),
    dg.TableColumn("created", "string", "Qonto creation time (UTC)"),
    dg.TableColumn("supplier", "string", "supplier name as Qonto read it"),
    dg.TableColumn("invoice_number", "string"),
    dg.TableColumn("amount", "string", "total amount and currency"),
    dg.TableColumn("decision", "string", "review or refused"),
    dg.TableColumn("score", "float", "score in %, truncated (a capped score never reads as the threshold)"),
    dg.TableColumn("capped_by", "string", "the hard rule that capped the score (most severe first)"),
    dg.TableColumn("best_vendor", "string", "chosen Melio vendor [id] and its probability"),
    dg.TableColumn("runner_up", "string", "second-ranked Melio vendor [id] and its probability"),
    dg.TableColumn("top_reason", "string", "why it waits: the first hard rule's reason, else the decision's"),
])


def _cell(value: object) -> str | float:
    if isinstance(value, float):
        return value if math.isfinite(value) else ""
    return "" if value is None else str(value)


def queue_record(entry: QueueEntry) -> dg.TableRecord:
    """One queue record as a table row (keys are the schema's column names)."""
    values = {
        "flag": entry.flag, "qonto_id": entry.qonto_id,
        "created": time_text(entry.created_at),
        "supplier": entry.supplier_name, "invoice_number": entry.invoice_number, "amount": entry.amount,
        "decision": entry.decision, "score": entry.score_value, "capped_by": entry.capped_by,
        "best_vendor": entry.best_vendor, "runner_up": entry.runner_up, "top_reason": entry.top_reason,
    }
    return dg.TableRecord({name: _cell(value) for name, value in values.items()})


def queue_table(entries: Sequence[QueueEntry]) -> dg.TableMetadataValue:
    return dg.MetadataValue.table([queue_record(e) for e in entries], schema=QUEUE_SCHEMA)
