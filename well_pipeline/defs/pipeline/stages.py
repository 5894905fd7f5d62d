"""The pipeline step: ingest → its checks → scoring → its checks → delivery → its check, in one step.

One code path for a workspace's partitioned `invoice_pipeline__<ws>` multi-asset (a partition or a single-run
backfill from the UI) and its unpartitioned `qonto_sync_job__<ws>` / `deliver_approved_job__<ws>`
(defs/pipeline/jobs.py); `services/pipeline.py` decides which days each stage works on.

How a run records what it wrote (issue 10, "partition status equals the data"): the step yields no output.
For each asset it logs one `AssetMaterialization(key, partition=day, metadata=<that day's counts, read back
from the store>)` per day it rewrote and that holds rows, and nothing for any other day. Why this mechanism: a
Dagster run targets one partition or one contiguous range, while a sync touches arbitrary days (a record created
in 2024 and edited today belongs to its 2024 day), and a run that outputs a range materialises every partition of
it with the same run-wide metadata, empty days included. Reported materialisations are Dagster's documented way
for a step to record what it wrote: each sets its partition's status, so a day with rows shows as materialised
with its own counts and a day without rows stays missing. One exception: a partition run (one day, or a range
launched from the UI) also materialises the days of its range that hold no rows, with zero counts, once the stage
succeeded (`_complete_range`): Dagster's backfill counts a requested partition without a materialisation as failed.
Each stage's run-wide figures (records listed, Qonto requests, SMTP outcomes...) are one `AssetObservation` of its
asset, not partition metadata.

Days outside the partition set (a record created before the first partition) are counted in the run's summary
and get no event: Dagster has no partition for them.

Progress: each stage logs progress lines (pages and records listed, attachments fetched, invoices scored, e-mails
sent, and on a range run the days materialised, with the percentage and the time left; services/progress.py) at
most every 10 s, or every `well/progress_every_s` seconds when the run has that tag (0: every step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import dagster as dg

from well_pipeline.adapters.storage import Storage
from well_pipeline.defs.delivery.assets import (
    DELIVERY_CHECKS,
    EMPTY_DELIVERY_DAY,
    delivery_day_metadata,
    delivery_summary,
)
from well_pipeline.defs.matching.assets import EMPTY_SCORING_DAY, scoring_day_metadata, scoring_summary
from well_pipeline.defs.matching.checks import MATCHING_CHECKS
from well_pipeline.defs.pipeline.step_check import StepCheck
from well_pipeline.defs.qonto.assets import (
    EMPTY_INGEST_DAY,
    ingest_day_metadata,
    ingest_summary,
)
from well_pipeline.defs.qonto.checks import QONTO_CHECKS
from well_pipeline.defs.resources import MelioDeliveryResource, QontoResource, ScoringResource, WellStorageResource
from well_pipeline.defs.workspace.names import WorkspaceNames
from well_pipeline.defs.workspace.resources import resource_of
from well_pipeline.services.delivery import deliver_days
from well_pipeline.services.pipeline import Mode, RunScope, days_to_deliver_in, days_to_score
from well_pipeline.services.progress import PROGRESS_EVERY_S, Pace
from well_pipeline.services.qonto_ingest import IngestReport, ingest_supplier_invoices
from well_pipeline.services.scoring import score_dates
from well_pipeline.services.sync_marker import SYNC_MARKER, last_sync, marker_for

PIPELINE_CHECKS: tuple[StepCheck, ...] = (*QONTO_CHECKS, *MATCHING_CHECKS, *DELIVERY_CHECKS)
# The metadata key of a run's marker report (an AssetObservation of <ws>/qonto_supplier_invoices), read by the sensor.
SYNC_MARKER_KEY = "sync_marker"
# A run tag: seconds between two progress lines of a stage (default PROGRESS_EVERY_S). A run tag, not a setting:
# it is about one run's log (set it in the launchpad's tags), and nothing else reads it.
PROGRESS_TAG = "well/progress_every_s"


class StepContext(Protocol):
    """What the step needs of Dagster's context (an asset's or an op's)."""

    @property
    def log(self) -> dg.DagsterLogManager: ...

    @property
    def run(self) -> dg.DagsterRun: ...

    def log_event(self, event: dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckEvaluation) -> None: ...


@dataclass(frozen=True)
class Selection:
    """Which stages run (a UI subset of the multi-asset); each stage that runs evaluates all of its checks."""

    ingest: bool = True
    score: bool = True
    deliver: bool = True


@dataclass(frozen=True)
class Collaborators:
    """The resources the step uses."""

    qonto: QontoResource
    storage: WellStorageResource
    scoring: ScoringResource
    melio_delivery: MelioDeliveryResource

    @classmethod
    def of(cls, context: dg.AssetExecutionContext | dg.OpExecutionContext, names: WorkspaceNames) -> Collaborators:
        """The workspace's resources as the run resolved them (its scoped keys: defs/workspace/resources.py)."""
        return cls(*(resource_of(context, names, name) for name in ("qonto", "storage", "scoring", "melio_delivery")))


@dataclass
class StepOutcome:
    """What the step did: the days materialised per asset, and the sync marker it set (None: none)."""

    days: dict[dg.AssetKey, list[date]] = field(default_factory=dict)
    marker: datetime | None = None


class BlockingCheckFailed(dg.Failure):
    """A blocking check failed: what follows it in the step is not run (its guarantee, kept in one step)."""


class PipelineStep:
    """One run of the step: materialisations, observations and check evaluations are logged on `context` as
    they happen (the multi-asset and the op jobs alike: neither has check outputs, see defs/pipeline/checks.py)."""

    def __init__(self, context: StepContext, scope: RunScope, selection: Selection, res: Collaborators, *,
                 partitions: dg.DailyPartitionsDefinition, names: WorkspaceNames) -> None:
        self.context, self.scope, self.selection, self.res = context, scope, selection, res
        self.partitions, self.names = partitions, names
        self.pace = progress_pace(context.run.tags)  # before the store opens: a bad tag fails here, having done nothing
        self.store: Storage = res.storage.storage()
        self.outcome = StepOutcome()

    # -- the whole step -----------------------------------------------------------------------------------------
    def run(self) -> None:
        ingest = None
        touched: set[date] = set()
        if self.selection.ingest and self.scope.window is not None:
            ingest = self._ingest()
            touched = ingest.report.touched_dates
        scored: list[date] = []
        if self.selection.score and self.scope.mode is not Mode.APPROVED:
            scored = self._score(touched)
        if self.selection.deliver:
            self._deliver(scored)
        if ingest is not None and self.scope.sets_marker:
            self._set_marker(ingest)

    # -- ingest -------------------------------------------------------------------------------------------------
    def _ingest(self) -> _Ingested:
        scope, store, qonto = self.scope, self.store, self.res.qonto
        assert scope.window is not None
        # Stored times are whole seconds: what was written in this second before the start counts as rewritten too.
        started = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        listing_started = datetime.now(UTC).replace(microsecond=0)
        stats: dict = {}
        offset: float | None = None
        days: list[date] = []
        try:
            with qonto.build_client() as client:
                try:
                    report = ingest_supplier_invoices(
                        client, store.invoices, store.documents, scope.window,
                        attachment_scope=scope.attachment_scope,
                        max_attachment_bytes=qonto.attachment_max_mb * 1024 * 1024,
                        log=self.context.log.info,
                        warn=self.context.log.warning,  # paging shifts, re-listing, split windows: the event log
                        pace=self.pace,
                    )
                finally:
                    stats = client.stats.as_dict()
                    offset = client.server_clock_offset_s
                    stats["server_clock_offset_s"] = offset
        finally:
            # Whatever happened, every day whose rows this run stored or changed shows them (a failed run too).
            rewritten = set(store.invoices.days_changed_since(started))
            if scope.mode is Mode.RANGE:
                rewritten |= set(scope.days)
            days = self._materialize(self.names.invoices, ingest_day_metadata(store, sorted(rewritten)))
        days = sorted({*days, *self._complete_range(self.names.invoices, EMPTY_INGEST_DAY)})
        preview_days = sorted(set(days) | report.touched_dates)
        preview = store.invoices.preview(preview_days[0], preview_days[-1] + timedelta(days=1)) if preview_days else []
        summary = ingest_summary(report, stats, self.res.storage, mode=str(scope.mode), days_materialized=len(days),
                                 preview=preview)
        self._observe(self.names.invoices, summary, outside=self._outside(rewritten))
        self._checks(QONTO_CHECKS, then="scoring and delivery")
        return _Ingested(report, offset, listing_started)

    # -- scoring ------------------------------------------------------------------------------------------------
    def _score(self, touched: set[date]) -> list[date]:
        store = self.store
        policy = self.res.scoring.policy()
        days = days_to_score(store, self.scope, touched)
        report = score_dates(store, days, policy, log=self.context.log.info, pace=self.pace)
        materialized = self._materialize(self.names.scored, scoring_day_metadata(store, days))
        materialized += self._complete_range(self.names.scored, EMPTY_SCORING_DAY)
        self._observe(self.names.scored,
                      scoring_summary(store, report, policy, days, days_materialized=len(materialized)),
                      outside=self._outside(days))
        self._checks(MATCHING_CHECKS, then="delivery")
        return days

    # -- delivery -----------------------------------------------------------------------------------------------
    def _deliver(self, scored: list[date]) -> None:
        delivery, store = self.res.melio_delivery, self.store
        if self.scope.mode is Mode.SYNC and not (delivery.melio_inbox_address and delivery.smtp_host):
            # A sync must not stall on delivery not being set up yet: ingest and scoring still run, records wait.
            self.context.log.warning(
                "Delivery is not configured (melio_inbox_address, smtp_host): nothing is e-mailed; released "
                "records wait and are delivered by the first sync or 'deliver approved now' run after it is set.")
            return
        to_address, from_address, warnings = delivery.checked_addresses()
        for warning in warnings:
            self.context.log.warning(warning)
        days = days_to_deliver_in(store, self.scope, scored)
        try:
            report = deliver_days(store, days, delivery.mailer, to_address=to_address, from_address=from_address,
                                  allow_any_domain=delivery.melio_inbox_allow_any_domain, quota=delivery.quota(),
                                  log=self.context.log.info, pace=self.pace)
        finally:
            # Sent, held or claimed rows stay written even when the batch stopped: their days show them.
            materialized = self._materialize(self.names.delivered, delivery_day_metadata(store, days))
        materialized += self._complete_range(self.names.delivered, EMPTY_DELIVERY_DAY)
        self._observe(self.names.delivered, delivery_summary(report, to_address, days=len(days),
                                                        days_materialized=len(materialized)),
                      outside=self._outside(days))
        self._checks(DELIVERY_CHECKS, then="the rest of the run")

    # -- the sync marker ----------------------------------------------------------------------------------------
    def _set_marker(self, ingest: _Ingested) -> None:
        """After every stage succeeded: DuckDB's copy of the marker (for `well qonto status`) and the report the
        sync sensor adopts (its cursor holds the live marker)."""
        window = self.scope.window
        assert window is not None
        started = window.updated_to if self.scope.mode is Mode.SYNC and window.updated_to else ingest.listing_started
        moment = marker_for(started.astimezone(UTC), ingest.offset)
        current = last_sync(self.store.invoices)
        if self.scope.mode is Mode.SYNC or current is None or moment > current:
            self.store.invoices.set_marker(SYNC_MARKER, moment.isoformat())
        self.outcome.marker = moment
        self.context.log_event(dg.AssetObservation(self.names.invoices, metadata={
            SYNC_MARKER_KEY: moment.isoformat(), "mode": str(self.scope.mode),
            "qonto_window": ingest.report.window.describe()}))
        self.context.log.info(f"Sync marker set to {moment.isoformat()}: the next sync lists what Qonto updated since "
                              "(minus sync_overlap_minutes).")

    # -- helpers ------------------------------------------------------------------------------------------------
    def _partition_days(self) -> tuple[date, date]:
        """The first and last day Dagster has a partition for (the last one is today's, still open)."""
        first = self.partitions.start.date()
        last = self.partitions.get_last_partition_key()
        return first, date.fromisoformat(last) if last else first

    def _outside(self, days: Iterable[date]) -> int:
        first, last = self._partition_days()
        return sum(1 for day in days if not first <= day <= last)

    def _materialize(self, key: dg.AssetKey, per_day: Mapping[date, Mapping[str, dg.RawMetadataValue]]
                     ) -> list[date]:
        """One materialisation per day that holds rows, with that day's own metadata; returns the days."""
        first, last = self._partition_days()
        days = [day for day in sorted(per_day) if first <= day <= last]
        self._log_materializations(key, [(day, per_day[day]) for day in days], "days with rows")
        self.outcome.days[key] = days
        return days

    def _log_materializations(self, key: dg.AssetKey, days: list[tuple[date, Mapping[str, dg.RawMetadataValue]]],
                              unit: str) -> None:
        """One materialisation per day. A multi-year range logs about a thousand per asset, one instance write
        each (tens of seconds): a range run says how far it got in progress lines; a sync's few days need none."""
        if not days:
            return
        log = self.context.log.info if self.scope.mode is Mode.RANGE else _silent
        with self.pace.track(f"{key.path[-1]} partitions", unit, len(days), log) as recorded:  # the run is the ws's
            for day, metadata in days:
                self.context.log_event(dg.AssetMaterialization(key, partition=day.isoformat(), metadata=metadata))
                recorded.advance()

    def _complete_range(self, key: dg.AssetKey, empty: Mapping[str, dg.RawMetadataValue]) -> list[date]:
        """A partition range's days that hold no rows, materialised with zero counts once the stage succeeded.

        Why: Dagster's backfill counts a requested partition that no materialisation reached as failed, so a range
        launched from the UI over a day without invoices would end "Failed" though the run succeeded. A day a
        partition run computed and found empty is materialised (its counts say 0); a day no run computed stays
        missing. A sync targets no partition and adds nothing here. Called after success only: a failed stage
        leaves its empty days missing (the run, and the backfill, failed)."""
        if self.scope.mode is not Mode.RANGE:
            return []
        done = set(self.outcome.days.get(key, ()))
        first, last = self._partition_days()
        empty_days = [day for day in self.scope.days if day not in done and first <= day <= last]
        self._log_materializations(key, [(day, dict(empty)) for day in empty_days], "empty days")
        self.outcome.days[key] = sorted(done | set(empty_days))
        return empty_days

    def _observe(self, key: dg.AssetKey, metadata: dict[str, dg.RawMetadataValue], *, outside: int) -> None:
        if outside:
            metadata["days_before_the_first_partition"] = outside
        self.context.log_event(dg.AssetObservation(key, metadata=metadata))

    def _checks(self, checks: tuple[StepCheck, ...], *, then: str) -> None:
        """Evaluate a stage's checks and log each evaluation; a failed blocking one stops the step here."""
        failed = []
        for check in checks:
            result = check.result(self.store, self.names)
            self.context.log_event(check_evaluation(result, blocking=check.blocking))
            if check.blocking and not result.passed:
                failed.append(check.name)
        if failed:
            raise BlockingCheckFailed(
                description=f"Blocking check {', '.join(failed)} failed: {then} not run in this step. See the check's "
                            "metadata; fix the cause and run again.")


@dataclass(frozen=True)
class _Ingested:
    report: IngestReport
    offset: float | None
    listing_started: datetime


def _silent(message: str) -> None:
    """A log that drops its lines."""


def progress_pace(tags: Mapping[str, str]) -> Pace:
    """The pace of the run's progress lines: the `well/progress_every_s` tag, else every PROGRESS_EVERY_S."""
    text = tags.get(PROGRESS_TAG)
    if text is None:
        return Pace()
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise dg.Failure(description=f"Run tag {PROGRESS_TAG}={text!r}: expected the seconds between two progress "
                                     f"lines, a number >= 0 (default {PROGRESS_EVERY_S:g}; 0: every step). Nothing "
                                     "was done: fix or remove the tag and launch again.")
    return Pace(every_s=seconds)


def check_evaluation(result: dg.AssetCheckResult, *, blocking: bool) -> dg.AssetCheckEvaluation:
    """A check result as the event the step logs (no step declares check outputs: defs/pipeline/checks.py)."""
    assert result.asset_key is not None and result.check_name is not None
    return dg.AssetCheckEvaluation(asset_key=result.asset_key, check_name=result.check_name, passed=result.passed,
                                   metadata=result.metadata, severity=result.severity,
                                   description=result.description, blocking=blocking)
