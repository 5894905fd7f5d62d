"""Which incoming Qonto records are new, changed, unchanged or stale: the first-line dedup rule.

Well keys every record on its Qonto id. A re-import, an overlapping sync window or a marker rewind delivers
the same id again; only a different content fingerprint counts as a change, and a copy older than the one
already stored (by `updated_at`) never overwrites it. That is what makes re-running any window safe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def fingerprint(raw: Mapping[str, Any]) -> str:
    """Stable sha256 of a record's content: key order and JSON whitespace do not matter."""
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredVersion:
    record_hash: str
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class Incoming:
    record_id: str
    record_hash: str
    updated_at: datetime


@dataclass
class ChangeSet:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def classify(incoming: Iterable[Incoming], stored: Mapping[str, StoredVersion]) -> ChangeSet:
    """Sort incoming records against what is stored. Within one batch the last copy of an id wins."""
    latest: dict[str, Incoming] = {}
    for item in incoming:
        previous = latest.get(item.record_id)
        if previous is None or item.updated_at >= previous.updated_at:
            latest[item.record_id] = item
    result = ChangeSet()
    for record_id, item in latest.items():
        current = stored.get(record_id)
        if current is None:
            result.new.append(record_id)
        elif current.record_hash == item.record_hash:
            result.unchanged.append(record_id)
        elif item.updated_at < current.updated_at:
            result.stale.append(record_id)
        else:
            result.changed.append(record_id)
    return result
