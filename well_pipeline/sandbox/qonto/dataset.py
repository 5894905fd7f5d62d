"""The sandbox's view of a dataset directory (see "Dataset directory" in docs/CONTRACTS.md).

`Dataset.current()` returns an immutable `Snapshot`; it first checks (a few `stat` calls) whether
`qonto/invoices.jsonl`, `qonto/organization.json` or the attachments folder changed and reloads only the
part that did. Tests can therefore rewrite the dataset while the server runs, and concurrent requests
always see one consistent snapshot. A bad line is skipped with a warning naming it: a sandbox that dies on
one odd record is useless for testing a client's robustness.
"""

from __future__ import annotations

import bisect
import gc
import hashlib
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
_KNOWN_EXTENSIONS = (
    ".pdf",
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".tif",
    ".tiff",
    ".heic",
    ".webp",
    ".xml",
    ".txt",
    "",
)
# Files modified this recently are also compared by content (see Dataset), if at most this big.
RACY_WINDOW_NS = 2_000_000_000
RACY_HASH_LIMIT = 8 << 20
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


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class InvoiceRow:
    """One loaded invoice: its JSON text as served, plus the few fields filters and sorts read.

    The parsed dict is dropped after loading: 100k nested dicts cost several hundred MB and make every
    full GC pass crawl, while the raw line is exactly what the API must return anyway.
    """

    __slots__ = (
        "id",
        "raw",
        "created",
        "updated",
        "created_at",
        "status",
        "organization_id",
        "attachment_id",
        "display_attachment_id",
        "file_name",
        "supplier_name",
        "due_date",
        "payment_date",
        "scheduled_date",
        "total_amount",
        "is_credit_note",
        "has_duplicates",
        "is_non_financial",
    )

    def __init__(self, record: dict[str, Any], raw: bytes, created: float, updated: float) -> None:
        self.id: str = record["id"]
        self.raw = raw
        self.created = created
        self.updated = updated
        self.created_at: Any = record.get("created_at")
        self.status: Any = record.get("status")
        self.organization_id = _str_or_none(record.get("organization_id"))
        self.attachment_id = _str_or_none(record.get("attachment_id"))
        self.display_attachment_id = _str_or_none(record.get("display_attachment_id"))
        file_name, supplier_name = record.get("file_name"), record.get("supplier_name")
        self.file_name = None if file_name is None else str(file_name)
        self.supplier_name = None if supplier_name is None else str(supplier_name)
        self.due_date = _str_or_none(record.get("due_date"))
        self.payment_date = _str_or_none(record.get("payment_date"))
        self.scheduled_date = _str_or_none(record.get("scheduled_date"))
        amount = record.get("total_amount")
        self.total_amount = amount.get("value") if isinstance(amount, dict) else None
        self.is_credit_note = record.get("is_credit_note") is True
        self.has_duplicates = record.get("has_duplicates") is True
        self.is_non_financial = record.get("is_attachment_non_financial") is True

    @property
    def record(self) -> dict[str, Any]:
        """The record as a fresh dict (parsed on demand; only fault injection needs it)."""
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed

    def json_bytes(self) -> bytes:
        """The record's JSON exactly as stored in invoices.jsonl."""
        return self.raw

    @property
    def attachment_ids(self) -> tuple[str, ...]:
        """Attachment ids the record references (the file itself and the displayed one)."""
        ids = [self.attachment_id] if self.attachment_id else []
        if self.display_attachment_id and self.display_attachment_id not in ids:
            ids.append(self.display_attachment_id)
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
            if row.organization_id:
                return row.organization_id
        return "00000000-0000-4000-8000-000000000000"


@dataclass
class LoadedInvoices:
    """Result of parsing invoices.jsonl."""

    rows: list[InvoiceRow]
    skipped: int
    digest: bytes | None  # content digest for small files (see Dataset._unchanged)


def load_invoices(path: Path) -> LoadedInvoices:
    """Parse invoices.jsonl into rows sorted by (created, id); bad lines are skipped with a warning.

    The cyclic GC is paused while parsing: 100k freshly allocated dicts otherwise trigger ever more
    expensive full collections, which triples the load time (records hold no cycles; refcounting frees
    them). The pause is process-wide but lasts only the parse.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_invoices(path)
    finally:
        if was_enabled:
            gc.enable()


def _load_invoices(path: Path) -> LoadedInvoices:
    rows: dict[str, InvoiceRow] = {}
    skipped = 0
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        logger.warning("Qonto sandbox dataset has no %s; serving no invoices", path)
        return LoadedInvoices([], 0, None)
    with handle:
        hasher = (
            hashlib.blake2b(digest_size=16) if os.fstat(handle.fileno()).st_size <= RACY_HASH_LIMIT else None
        )
        for line_number, raw in enumerate(handle, start=1):
            if hasher is not None:
                hasher.update(raw)
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
                logger.warning(
                    "%s line %d: duplicate id %s; the later line wins", path, line_number, record["id"]
                )
            rows[record["id"]] = InvoiceRow(record, raw.strip(), created, updated)
    ordered = sorted(rows.values(), key=lambda row: (row.created, row.id))
    return LoadedInvoices(ordered, skipped, hasher.digest() if hasher is not None else None)


def load_organization(path: Path) -> tuple[dict[str, Any] | None, bytes | None]:
    """(organization.json as served by GET /v2/organization or None, content digest)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    digest = _digest(data)
    try:
        payload = json.loads(data)
    except ValueError as exc:
        logger.warning("%s: invalid JSON (%s); serving a generated organization", path, exc)
        return None, digest
    if not isinstance(payload, dict) or not isinstance(payload.get("organization"), dict):
        logger.warning('%s: expected {"organization": {...}}; serving a generated organization', path)
        return None, digest
    return payload, digest


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


Signature = tuple[int, int, int]


def _signature(path: Path) -> Signature | None:
    """Cheap change detector: (inode, mtime_ns, size); the inode catches atomic replace-by-rename."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Dataset:
    """Owns the current snapshot and reloads the parts of the dataset directory that changed.

    File timestamps are coarse (a few ms) and inodes get reused, so two same-size rewrites in quick
    succession can leave (inode, mtime, size) unchanged. As git does for "racily clean" files, a file
    modified less than RACY_WINDOW_NS ago is also compared by content digest (small files only).
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.qonto_dir = self.data_dir / "qonto"
        self.invoices_path = self.qonto_dir / "invoices.jsonl"
        self.organization_path = self.qonto_dir / "organization.json"
        self.attachments_dir = self.qonto_dir / "attachments"
        self._lock = threading.Lock()
        self._version = 0
        self._loaded = False
        self._invoices_sig: Signature | None = None
        self._invoices_digest: bytes | None = None
        self._org_sig: Signature | None = None
        self._org_digest: bytes | None = None
        self._attachments_sig: Signature | None = None
        self._attachments: dict[str, Path] = {}
        self._snapshot = Snapshot(0, [], {}, {}, None)
        self.skipped_lines = 0
        self.current()

    def _unchanged(
        self, path: Path, old: Signature | None, new: Signature | None, digest: bytes | None
    ) -> bool:
        if old != new:
            return False
        if new is None or digest is None or time.time_ns() - new[1] > RACY_WINDOW_NS:
            return True
        try:
            return _digest(path.read_bytes()) == digest
        except OSError:
            return False

    def current(self) -> Snapshot:
        """The snapshot to serve this request from, reloading first if a file changed on disk."""
        invoices_sig = _signature(self.invoices_path)
        org_sig = _signature(self.organization_path)
        attachments_sig = _signature(self.attachments_dir)
        if (
            self._loaded
            and attachments_sig == self._attachments_sig
            and self._unchanged(self.invoices_path, self._invoices_sig, invoices_sig, self._invoices_digest)
            and self._unchanged(self.organization_path, self._org_sig, org_sig, self._org_digest)
        ):
            return self._snapshot
        with self._lock:
            if not self._loaded or attachments_sig != self._attachments_sig:
                self._attachments = self._scan_attachments()
                self._attachments_sig = attachments_sig
            reload_invoices = not self._loaded or not self._unchanged(
                self.invoices_path, self._invoices_sig, invoices_sig, self._invoices_digest
            )
            reload_org = not self._loaded or not self._unchanged(
                self.organization_path, self._org_sig, org_sig, self._org_digest
            )
            if reload_invoices or reload_org:
                self._reload(reload_invoices, invoices_sig, org_sig)
            self._loaded = True
            return self._snapshot

    def force_reload(self) -> Snapshot:
        """Reload everything regardless of file signatures."""
        with self._lock:
            self._loaded = False
        return self.current()

    def _reload(
        self, reload_invoices: bool, invoices_sig: Signature | None, org_sig: Signature | None
    ) -> None:
        old = self._snapshot
        rows = old.rows
        if reload_invoices:
            started = time.monotonic()
            try:
                loaded = load_invoices(self.invoices_path)
            except OSError as exc:
                logger.warning(
                    "could not read %s (%s); keeping the previous dataset", self.invoices_path, exc
                )
                return
            rows, self.skipped_lines = loaded.rows, loaded.skipped
            self._invoices_digest = loaded.digest
            self._invoices_sig = invoices_sig
            logger.info(
                "Qonto sandbox loaded %d invoices (%d lines skipped) in %.2f s",
                len(rows),
                self.skipped_lines,
                time.monotonic() - started,
            )
        by_id = {row.id: row for row in rows} if reload_invoices else old.by_id
        by_attachment = old.by_attachment
        if reload_invoices:
            by_attachment = {}
            for row in rows:
                for attachment_id in row.attachment_ids:
                    by_attachment[attachment_id] = row
        organization, self._org_digest = load_organization(self.organization_path)
        self._org_sig = org_sig
        self._version += 1
        self._snapshot = Snapshot(self._version, rows, by_id, by_attachment, organization)

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
        if (
            not attachment_id
            or "/" in attachment_id
            or "\\" in attachment_id
            or attachment_id.startswith(".")
        ):
            return None
        path = self._attachments.get(attachment_id)
        if path is not None and path.is_file():
            return path
        for ext in _KNOWN_EXTENSIONS:
            candidate = self.attachments_dir / f"{attachment_id}{ext}"
            if candidate.is_file():
                return candidate
        return None
