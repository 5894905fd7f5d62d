"""What changed in a Qonto record after it was delivered, field by field, for a person to apply in Melio."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WATCHED_FIELDS = ("total_amount", "payable_amount", "due_date", "invoice_number", "supplier_name", "iban",
                  "attachment_id", "file_name", "issue_date", "currency", "status")


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"before": old, "after": new}} for every watched field whose value differs."""
    return {name: {"before": before.get(name), "after": after.get(name)}
            for name in WATCHED_FIELDS if before.get(name) != after.get(name)}
