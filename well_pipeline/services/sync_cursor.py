"""The sync sensor's cursor: the sync marker and what the sensor waits for, as JSON shown on the sensor page.

Why the cursor: the sensor must know the marker without opening DuckDB (a run may hold its write lock), and a
marker that moves only after the run covering its window succeeded needs a place that remembers the run. Dagster
keeps a sensor's cursor with the sensor, shows it on its page, and lets a person edit it ("Edit cursor") or set it
from the command line (`dagster sensor cursor qonto_sync_sensor__main --set '{...}'`): that edit is the documented
rewind (`well qonto rewind` builds it).

The format (every key optional; an unknown key or a malformed value is refused, naming it, so a typo in an edit
is seen and nothing is lost):

    {"marker": "2026-03-14T09:30:00+00:00",   the sync marker (null: no sync yet, the next one reads everything)
     "adopted": 1234,                         storage id of the last marker report adopted (0: none yet)
     "known": ["3f2a…", …],                   records the marker's window already holds (its overlap), by fingerprint
     "melio": 57,                             storage id of the Melio export load the last sync scored against
     "delivered": "9c1e…",                    what the last successful "deliver approved" run was asked to deliver
     "retry": {"base": "qonto-sync:…", "count": 1},   failed runs of the same request (their run keys differ)
     "pending": {"job": "qonto_sync_job__main", "run_key": "…", "window_to": "…", "seen": […], "melio": 57,
                 "digest": ""}}               the run requested last, settled on a later tick

A cursor without "adopted" was written by a person (the sensor always writes it): the sensor then ignores every
marker report older than the edit (they would undo a rewind) and adopts the newer ones. So a rewind is the marker
alone, `{"marker": "2026-03-01T00:00:00+00:00"}` (`rewind_cursor`); the next probe then knows no record of the
window and asks for a sync of it. An empty cursor (a new sensor) adopts every report, so a backfill run before the
sensor started sets its first marker.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

# The base names; each workspace's definitions carry them with the suffix `__<workspace id>` (`sensor_name`...).
SENSOR_NAME = "qonto_sync_sensor"
SYNC_JOB = "qonto_sync_job"
DELIVER_JOB = "deliver_approved_job"
_KEYS = {"marker", "adopted", "known", "melio", "delivered", "retry", "pending"}
_PENDING_KEYS = {"job", "run_key", "window_to", "seen", "melio", "digest"}


def sensor_name(workspace: str) -> str:
    """The sync sensor of a workspace (its cursor holds that workspace's marker): `qonto_sync_sensor__<id>`.
    Here, not in defs/, because the CLI (`well qonto rewind`, `well sensor-cursor`) needs it without Dagster's
    definitions; `defs/workspace/names.py` builds its names from these."""
    return f"{SENSOR_NAME}__{workspace}"


def sync_job_name(workspace: str) -> str:
    """The workspace's sync job: `qonto_sync_job__<id>`."""
    return f"{SYNC_JOB}__{workspace}"


def deliver_job_name(workspace: str) -> str:
    """The workspace's "deliver approved now" job: `deliver_approved_job__<id>`."""
    return f"{DELIVER_JOB}__{workspace}"


def is_sync_job(name: str) -> bool:
    """Whether a pending run's job is a sync job: any workspace's, or the unsuffixed name a cursor written before
    workspaces holds (such a cursor still parses and settles)."""
    return name == SYNC_JOB or name.startswith(SYNC_JOB + "__")


class CursorError(ValueError):
    """The cursor cannot be read; the message names the problem and how to fix it (nothing was changed)."""


@dataclass(frozen=True)
class PendingRun:
    """The run the sensor requested last: `seen` (a sync) are the fingerprints its probe saw, which become `known`
    once it succeeded; `melio` the Melio load it scores against; `digest` (deliver approved) the waiting set."""

    job: str
    run_key: str
    window_to: str = ""
    seen: tuple[str, ...] = ()
    melio: int = 0
    digest: str = ""

    @property
    def base(self) -> str:
        """The request's key without its retry suffix."""
        return self.run_key.split(":retry-")[0]


@dataclass(frozen=True)
class MarkerReport:
    """A run's report of the marker it set (an `AssetObservation` with `sync_marker`): its storage id, the marker,
    and its run's state (`success`, `failed`, or `active` while it still runs)."""

    storage_id: int
    marker: datetime
    run_state: str


@dataclass(frozen=True)
class SyncCursor:
    marker: datetime | None = None
    adopted: int | None = None
    known: tuple[str, ...] = ()
    melio: int = 0
    delivered: str = ""
    retry_base: str = ""
    retry_count: int = 0
    pending: PendingRun | None = None
    edited: bool = field(default=False, compare=False)  # read from a cursor a person wrote (no "adopted")

    # -- reading and writing ------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str | None) -> SyncCursor:
        """The cursor in `text` (None or empty: a new sensor). Raises `CursorError` naming what is wrong."""
        if not text or not text.strip():
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CursorError(f"the cursor is not JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(data, dict):
            raise CursorError("the cursor must be a JSON object such as {\"marker\": \"2026-03-01T00:00:00Z\"}")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise CursorError(f"unknown key(s) {', '.join(map(repr, unknown))} in the cursor; known keys: "
                              f"{', '.join(sorted(_KEYS))}")
        retry = data.get("retry") or {}
        if not isinstance(retry, dict):
            raise CursorError("\"retry\" must be an object {\"base\": ..., \"count\": ...}")
        return cls(
            marker=_moment(data.get("marker"), "marker"),
            adopted=_whole(data.get("adopted"), "adopted"),
            known=_strings(data.get("known"), "known"),
            melio=_whole(data.get("melio"), "melio") or 0,
            delivered=_text(data.get("delivered"), "delivered"),
            retry_base=_text(retry.get("base"), "retry.base"),
            retry_count=_whole(retry.get("count"), "retry.count") or 0,
            pending=_pending(data.get("pending")),
            edited="adopted" not in data,
        )

    def dump(self) -> str:
        """Compact JSON, the marker first (the sensor page shows the start of the cursor)."""
        # "adopted" is always written (0: no report yet), so a cursor the sensor wrote is never mistaken for a
        # person's edit (which has no "adopted") and the reports of the run it waits for are not ignored.
        data: dict[str, object] = {"marker": self.marker.isoformat() if self.marker else None,
                                   "adopted": self.adopted or 0}
        if self.pending is not None:
            pending = self.pending
            data["pending"] = {k: v for k, v in (("job", pending.job), ("run_key", pending.run_key),
                                                  ("window_to", pending.window_to), ("seen", list(pending.seen)),
                                                  ("melio", pending.melio), ("digest", pending.digest)) if v}
        if self.melio:
            data["melio"] = self.melio
        if self.delivered:
            data["delivered"] = self.delivered
        if self.retry_count:
            data["retry"] = {"base": self.retry_base, "count": self.retry_count}
        if self.known:
            data["known"] = list(self.known)
        return json.dumps(data, separators=(",", ":"))

    def describe_marker(self) -> str:
        return self.marker.isoformat() if self.marker else "none yet (no sync has succeeded)"

    # -- the rules ----------------------------------------------------------------------------------------------
    def settled(self, run_state: str) -> SyncCursor:
        """The cursor once the pending run ended: `success` (a sync's probe records become known, a delivery's
        waiting set is done), `failed` (one more retry of the same request), or `missing` (never launched, e.g.
        a run key Dagster had already used: forgotten)."""
        pending = self.pending
        if pending is None:
            return self
        cursor = replace(self, pending=None)
        if run_state == "success":
            if is_sync_job(pending.job):
                cursor = replace(cursor, known=pending.seen, melio=max(self.melio, pending.melio))
            else:
                cursor = replace(cursor, delivered=pending.digest)
            return replace(cursor, retry_base="", retry_count=0) if self.retry_base == pending.base else cursor
        if run_state == "failed":
            count = self.retry_count + 1 if self.retry_base == pending.base else 1
            return replace(cursor, retry_base=pending.base, retry_count=count)
        return cursor

    def ignoring_reports_up_to(self, storage_id: int | None) -> SyncCursor:
        """A person's cursor: reports up to `storage_id` (those existing at the edit) are not adopted."""
        return replace(self, adopted=storage_id or 0, edited=False)

    def adopt(self, reports: Iterable[MarkerReport]) -> SyncCursor:
        """Adopt the markers that runs reported, oldest first: a succeeded run's marker, when later than the
        current one, becomes the marker (a marker only moves forward on its own); a failed run's is passed over.
        Adoption stops at a run still active, to be judged once it ended."""
        marker, adopted = self.marker, self.adopted
        for report in sorted(reports, key=lambda r: r.storage_id):
            if adopted is not None and report.storage_id <= adopted:
                continue
            if report.run_state == "active":
                break
            if report.run_state == "success":
                moment = report.marker.astimezone(UTC)
                marker = moment if marker is None or moment > marker else marker
            adopted = report.storage_id
        return replace(self, marker=marker, adopted=adopted)

    def run_key(self, base: str) -> str:
        """The run key of a request: `base` (the same work asked twice has the same key, so Dagster launches it
        once), with a retry suffix after failed runs of the same request (a new key, so it runs again)."""
        return f"{base}:retry-{self.retry_count}" if self.retry_count and self.retry_base == base else base

    def requesting(self, pending: PendingRun) -> SyncCursor:
        return replace(self, pending=pending)


def digest(parts: Iterable[str]) -> str:
    """A short stable digest of some strings (a run key, a waiting set)."""
    return hashlib.sha256("\n".join(sorted(parts)).encode("utf-8")).hexdigest()[:16]


def rewind_cursor(to: datetime) -> str:
    """The cursor that moves the sensor's marker back to `to` (a person's edit: see the module docstring)."""
    return json.dumps({"marker": to.astimezone(UTC).isoformat()}, separators=(",", ":"))


# -- value readers ---------------------------------------------------------------------------------------------
def _moment(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CursorError(f"\"{name}\" must be an ISO 8601 time with Z or an offset, or null")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CursorError(f"\"{name}\" {value!r:.60} is not an ISO 8601 time (2026-03-01T08:00:00+00:00)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CursorError(f"\"{name}\" {value!r:.60} has no timezone: add Z (UTC) or an offset such as +02:00")
    return moment.astimezone(UTC)


def _whole(value: object, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CursorError(f"\"{name}\" must be a whole number >= 0")
    return value


def _text(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CursorError(f"\"{name}\" must be a string")
    return value


def _strings(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CursorError(f"\"{name}\" must be a list of strings")
    return tuple(value)


def _pending(value: object) -> PendingRun | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= _PENDING_KEYS or "job" not in value or "run_key" not in value:
        raise CursorError("\"pending\" must be an object with \"job\" and \"run_key\" (and optionally "
                          "\"window_to\", \"seen\", \"melio\", \"digest\"); delete it to forget the pending run")
    return PendingRun(job=_text(value["job"], "pending.job"), run_key=_text(value["run_key"], "pending.run_key"),
                      window_to=_text(value.get("window_to"), "pending.window_to"),
                      seen=_strings(value.get("seen"), "pending.seen"),
                      melio=_whole(value.get("melio"), "pending.melio") or 0,
                      digest=_text(value.get("digest"), "pending.digest"))


def fingerprints(items: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """Short fingerprints of (record id, updated_at) pairs: what the cursor keeps of records already stored."""
    return tuple(sorted({hashlib.sha256(f"{key}|{stamp}".encode()).hexdigest()[:16] for key, stamp in items}))
