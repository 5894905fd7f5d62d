"""The sandbox's view of a dataset directory (see "Dataset directory" in docs/CONTRACTS.md).

`Dataset.current()` returns an immutable `Snapshot`; it first checks (a few `stat` calls) whether
`qonto/invoices.jsonl`, `qonto/organization.json` or the attachments folder changed and reloads only the
part that did. Tests can therefore rewrite the dataset while the server runs, and concurrent requests
always see one consistent snapshot. A bad line is skipped with a warning naming it: a sandbox that dies on
one odd record is useless for testing a client's robustness.
"""

from __future__ import annotations

import bisect
import json
import logging
import mimetypes
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger("well.sandbox.qonto")

# Extensions tried when an attachment is missing from the index (file written after the last scan).
_KNOWN_EXTENSIONS = (".pdf", ".jpg", ".jpeg", ".png", ".gif", ".tif", ".tiff", ".heic", ".webp", ".xml", ".txt", "")
_CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".xml": "application/xml",
    ".txt": "text/plain",
}


def parse_timestamp(value: Any) -> float | None:
    """RFC 3339 / ISO 8601 timestamp with an offset -> POSIX seconds; None when absent or naive."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def content_type_for(path: Path) -> str:
    """Content-Type served for an attachment file, from its extension."""
    suffix = path.suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


class InvoiceRow:
    """One loaded invoice: the raw record plus the parsed fields listing needs on every request."""

    __slots__ = ("id", "record", "created", "updated", "status", "_json")

    def __init__(self, record: dict[str, Any], created: float, updated: float) -> None:
        self.id: str = record["id"]
        self.record = record
        self.created = created
        self.updated = updated
        self.status: Any = record.get("status")
        self._json: bytes | None = None

    def json_bytes(self) -> bytes:
        """The record serialised once and reused (pages of 100 records are then a cheap join)."""
        encoded = self._json
        if encoded is None:
            encoded = json.dumps(self.record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            self._json = encoded
        return encoded

    @property
    def attachment_ids(self) -> tuple[str, ...]:
        """Attachment ids the record references (the file itself and the displayed one)."""
        ids = []
        for key in ("attachment_id", "display_attachment_id"):
            value = self.record.get(key)
            if isinstance(value, str) and value and value not in ids:
                ids.append(value)
        return tuple(ids)


@dataclass
class Snapshot:
    """An immutable view of the invoices; `rows` sorted by (created, id) so exposure is one bisect."""

    version: int
    rows: list[InvoiceRow]
    by_id: dict[str, InvoiceRow]
    by_attachment: dict[str, InvoiceRow]
    organization: dict[str, Any] | None
    created_keys: list[float] = field(init=False)
    # Lazily computed sort orders (indices into rows), keyed by sort field; shared by all requests.
    orders: dict[str, list[int]] = field(default_factory=dict)
    orders_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.created_keys = [row.created for row in self.rows]

    def first_exposed_index(self, cutoff: float | None) -> int:
        """Index of the first row created at or after `cutoff` (rows before it are hidden)."""
        if cutoff is None:
            return 0
        return bisect.bisect_left(self.created_keys, cutoff)

    def default_organization_id(self) -> str:
        """Organisation id taken from the records (all records share it), or a fixed demo id."""
        for row in self.rows:
            org = row.record.get("organization_id")
            if isinstance(org, str) and org:
                return org
        return "00000000-0000-4000-8000-000000000000"


def load_invoices(path: Path) -> tuple[list[InvoiceRow], int]:
    """Parse invoices.jsonl; returns (rows sorted by created/id, number of skipped lines)."""
    rows: dict[str, InvoiceRow] = {}
    skipped = 0
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        logger.warning("Qonto sandbox dataset has no %s; serving no invoices", path)
        return [], 0
    with handle:
        for line_number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                logger.warning("%s line %d: malformed JSON skipped (%s)", path, line_number, exc)
                skipped += 1
                continue
            if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not record["id"]:
                logger.warning("%s line %d: not an object with a string id; skipped", path, line_number)
                skipped += 1
                continue
            created = parse_timestamp(record.get("created_at"))
            if created is None:
                logger.warning("%s line %d: created_at missing or not RFC 3339; skipped", path, line_number)
                skipped += 1
                continue
            updated = parse_timestamp(record.get("updated_at"))
            if updated is None:
                updated = created
            if record["id"] in rows:
                logger.warning("%s line %d: duplicate id %s; the later line wins", path, line_number, record["id"])
            rows[record["id"]] = InvoiceRow(record, created, updated)
    ordered = sorted(rows.values(), key=lambda row: (row.created, row.id))
    return ordered, skipped


def load_organization(path: Path) -> dict[str, Any] | None:
    """organization.json as served by GET /v2/organization, or None (absent or invalid)."""
    try:
        payload = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        logger.warning("%s: invalid JSON (%s); serving a generated organization", path, exc)
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("organization"), dict):
        logger.warning('%s: expected {"organization": {...}}; serving a generated organization', path)
        return None
    return payload


def _signature(path: Path) -> tuple[int, int, int] | None:
    """Cheap change detector: (inode, mtime_ns, size); the inode catches atomic replace-by-rename."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Dataset:
    """Owns the current snapshot and reloads the parts of the dataset directory that changed."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.qonto_dir = self.data_dir / "qonto"
        self.invoices_path = self.qonto_dir / "invoices.jsonl"
        self.organization_path = self.qonto_dir / "organization.json"
        self.attachments_dir = self.qonto_dir / "attachments"
        self._lock = threading.Lock()
        self._version = 0
        self._invoices_sig: tuple[int, int, int] | None | bool = False  # False = never loaded
        self._org_sig: tuple[int, int, int] | None | bool = False
        self._attachments_sig: tuple[int, int, int] | None | bool = False
        self._attachments: dict[str, Path] = {}
        self._snapshot = Snapshot(0, [], {}, {}, None)
        self.skipped_lines = 0
        self.current()

    def current(self) -> Snapshot:
        """The snapshot to serve this request from, reloading first if a file changed on disk."""
        invoices_sig = _signature(self.invoices_path)
        org_sig = _signature(self.organization_path)
        attachments_sig = _signature(self.attachments_dir)
        if (invoices_sig, org_sig, attachments_sig) == (self._invoices_sig, self._org_sig, self._attachments_sig):
            return self._snapshot
        with self._lock:
            if attachments_sig != self._attachments_sig:
                self._attachments = self._scan_attachments()
                self._attachments_sig = attachments_sig
            if invoices_sig != self._invoices_sig or org_sig != self._org_sig:
                self._reload(invoices_sig, org_sig)
            return self._snapshot

    def force_reload(self) -> Snapshot:
        """Reload everything regardless of file signatures."""
        with self._lock:
            self._invoices_sig = self._org_sig = self._attachments_sig = False
        return self.current()

    def _reload(self, invoices_sig: Any, org_sig: Any) -> None:
        old = self._snapshot
        rows, by_id = old.rows, old.by_id
        if invoices_sig != self._invoices_sig:
            started = time.monotonic()
            try:
                rows, self.skipped_lines = load_invoices(self.invoices_path)
            except OSError as exc:
                logger.warning("could not read %s (%s); keeping the previous dataset", self.invoices_path, exc)
                return
            by_id = {row.id: row for row in rows}
            logger.info(
                "Qonto sandbox loaded %d invoices (%d lines skipped) in %.2f s",
                len(rows),
                self.skipped_lines,
                time.monotonic() - started,
            )
        by_attachment: dict[str, InvoiceRow] = {}
        for row in rows:
            for attachment_id in row.attachment_ids:
                by_attachment[attachment_id] = row
        organization = load_organization(self.organization_path)
        self._version += 1
        self._snapshot = Snapshot(self._version, rows, by_id, by_attachment, organization)
        self._invoices_sig = invoices_sig
        self._org_sig = org_sig

    def _scan_attachments(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        try:
            with os.scandir(self.attachments_dir) as entries:
                for entry in entries:
                    if entry.is_file():
                        stem, _, _ = entry.name.partition(".")
                        index.setdefault(stem, Path(entry.path))
        except FileNotFoundError:
            pass
        return index

    def attachment_path(self, attachment_id: str) -> Path | None:
        """Path of `<attachment_id>.<ext>` on disk, or None."""
        if not attachment_id or "/" in attachment_id or "\\" in attachment_id or attachment_id.startswith("."):
            return None
        path = self._attachments.get(attachment_id)
        if path is not None and path.is_file():
            return path
        for ext in _KNOWN_EXTENSIONS:
            candidate = self.attachments_dir / f"{attachment_id}{ext}"
            if candidate.is_file():
                return candidate
        return None

