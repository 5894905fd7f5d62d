"""Workspaces benchmark: many companies synced by Dagster's multi-node deployment (issue 12, item 6).

    python -m well_pipeline_tests.benchmarks.workspaces [--workspaces 20] [--invoices 500] [--timeout-s 1800]

The deployment of the deployment test (support/deployment.py: `dagster code-server start`, `dagster-webserver`
and `dagster-daemon run` as separate processes, each with deploy/dagster.yaml; Dagster's storage and Well's store on
a real PostgreSQL server, one schema per workspace) serving companies prepared as in that test
(support/workspace_fleet.py: one Qonto sandbox organisation, Melio inbox address, workspace file, prefixed
secrets and `well --workspace <id> qonto connect` each). Every invoice of every company is new: each company's
first Melio export load, then its first sync (ingest, score, deliver) is the whole workload.

Two deployments, one after the other, on the same PostgreSQL server (a Dagster database each):
1. one workspace of `--invoices` invoices: `seconds_one_workspace`;
2. `--workspaces` workspaces of `--invoices` invoices each: `seconds`.
Each is timed from the moment the deployment is up (code loaded, webserver answering, daemon beating) until every
record is stored and scored and every one the store auto-linked is in its company's inbox, and no run is queued or
in progress; start-up and the
datasets are not in it.

Prints ONE JSON line: `workspaces`, `invoices_total`, `seconds`, `max_overlapping_runs` (most runs in progress at
one moment, from the run records' start and end), `duplicates` (messages beyond the first per record and address,
messages at another company's address, and store rows beyond one per record: must be 0), `lost` (records the
store auto-linked but not delivered, records neither stored nor kept as rejected, stored records not scored: must be 0),
`seconds_one_workspace`, plus `runs`, `failed_runs`, `same_workspace_overlaps` (must be 0), `delivered_total` and
`auto_link_differs` (records where the pipeline's decision differs from scoring the dataset's files offline: the
end condition and `lost` use the store's decisions; 4 of 3,010 differed at 20 x 500, none in the test's sizes).
Exit status 1 when duplicates, lost, failed runs or same-workspace overlaps are not 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from well_pipeline_tests.support.deployment import start_deployment
from well_pipeline_tests.support.postgres_server import PostgresServer, start_server
from well_pipeline_tests.support.waiting import wait_until
from well_pipeline_tests.support.workspace_fleet import (
    Fleet,
    max_overlap,
    run_spans,
    running_fleet,
    runs_settled,
    same_workspace_overlaps,
    store_counts,
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspaces", type=int, default=20, help="companies in the second deployment")
    parser.add_argument("--invoices", type=int, default=500, help="invoices per company")
    parser.add_argument("--timeout-s", type=float, default=1800, help="deadline of each deployment's workload")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs) and print its path")
    return parser.parse_args(argv)


def _tally(fleet: Fleet, postgres_dsn: str) -> dict[str, int]:
    """Duplicates and losses, per company, from the inbox and from each workspace's schema."""
    duplicates = lost = delivered = differs = 0
    own = {ws.inbox_address for ws in fleet.workspaces}
    for ws in fleet.workspaces:
        counts = store_counts(postgres_dsn, ws.id)
        sent = fleet.delivered(ws)
        delivered += len(sent)
        duplicates += sum(n - 1 for n in sent.values()) + len(set(sent) - ws.record_ids)
        duplicates += sum(n - 1 for n in counts.invoices.values()) + sum(n - 1 for n in counts.sent.values())
        lost += len(counts.auto_linked - set(sent))
        differs += len(counts.auto_linked ^ ws.auto_link_ids)
        lost += len(ws.record_ids - set(counts.invoices) - counts.rejected)
        lost += len(set(counts.invoices) - set(counts.scored))
    duplicates += sum(1 for message in fleet.inbox.messages() if not set(message.rcpt_tos) <= own)
    return {"duplicates": duplicates, "lost": lost, "delivered_total": delivered, "auto_link_differs": differs}


def run_deployment(work: Path, postgres: PostgresServer, ids: list[str], invoices: int, timeout_s: float,
                   database: str) -> dict[str, Any]:
    """One deployment serving `ids`: its workload's seconds, the runs' overlap and the tallies."""
    with running_fleet(work / "fleet", ids, invoices=invoices, postgres_dsn=postgres.dsn()) as fleet:
        print(f"[{database}] {len(ids)} workspace(s), {fleet.invoices_total} invoices, "
              f"{sum(len(ws.auto_link_ids) for ws in fleet.workspaces)} to deliver", file=sys.stderr, flush=True)
        deployment = start_deployment(work / "deployment", postgres, fleet.well_env, dagster_database=database)
        try:
            started = time.monotonic()
            complete = True
            try:
                wait_until(lambda: fleet.store_complete(postgres.dsn()), timeout_s,
                           lambda: f"every record stored, scored and delivered ({fleet.progress()})")
                with deployment.instance() as instance:
                    wait_until(lambda: runs_settled(instance), timeout_s, "the runs to finish")
            except AssertionError as exc:
                print(f"[{database}] {exc}\n{deployment.logs(20)}", file=sys.stderr, flush=True)
                complete = False
            seconds = time.monotonic() - started
            with deployment.instance() as instance:
                spans = run_spans(instance) if complete else []
                reasons = failure_reasons(instance, [span.run_id for span in spans if span.status != "SUCCESS"])
        finally:
            deployment.stop()
        tally = _tally(fleet, postgres.dsn())
    statuses = Counter(span.status for span in spans)
    return {"seconds": round(seconds, 1), "max_overlapping_runs": max_overlap(spans), "runs": len(spans),
            "failed_runs": sum(n for status, n in statuses.items() if status != "SUCCESS") + (not complete),
            "same_workspace_overlaps": len(same_workspace_overlaps(spans)), "invoices_total": fleet.invoices_total,
            "failure_reasons": dict(reasons), **tally}


def _failure_text(event: Any) -> str:
    """A failed step's error message; a run failure's own message (step_failure_data exists on step failures only)."""
    import dagster as dg

    if event.event_type == dg.DagsterEventType.STEP_FAILURE and event.step_failure_data.error is not None:
        error = event.step_failure_data.error
        while error.cause is not None:  # Dagster's "Error occurred while executing op" wraps the real one
            error = error.cause
        return error.message
    return event.message or ""


def failure_reasons(instance: Any, run_ids: list[str]) -> Counter[str]:
    """Why runs failed, counted by the first line of each failed step's (else the run's) error."""
    import dagster as dg

    reasons: Counter[str] = Counter()
    for run_id in run_ids:
        failures = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_FAILURE,
                                                      dg.DagsterEventType.RUN_FAILURE})
        texts = [_failure_text(e.dagster_event) or e.message or "" for e in failures if e.dagster_event is not None]
        first = next((t for t in texts if t), "no failure event")
        reasons[first.strip().splitlines()[0][:160]] += 1
    return reasons


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="well-bench-workspaces-"))
    postgres = start_server()
    try:
        one = run_deployment(work / "one", postgres, ["solo"], args.invoices, args.timeout_s, "dagster_one")
        ids = [f"co{n:02d}" for n in range(1, args.workspaces + 1)]
        many = run_deployment(work / "many", postgres, ids, args.invoices, args.timeout_s, "dagster_many")
    finally:
        postgres.stop()
    result = {"workspaces": args.workspaces, "invoices_total": many["invoices_total"], "seconds": many["seconds"],
              "max_overlapping_runs": many["max_overlapping_runs"],
              "duplicates": many["duplicates"] + one["duplicates"], "lost": many["lost"] + one["lost"],
              "seconds_one_workspace": one["seconds"], "runs": many["runs"], "failed_runs": many["failed_runs"],
              "same_workspace_overlaps": many["same_workspace_overlaps"], "delivered_total": many["delivered_total"],
              "auto_link_differs": many["auto_link_differs"] + one["auto_link_differs"],
              "failure_reasons": {**one["failure_reasons"], **many["failure_reasons"]}}
    print(json.dumps(result), flush=True)
    if args.keep:
        print(f"working folder: {work}", file=sys.stderr)
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    bad = result["duplicates"] or result["lost"] or result["failed_runs"] or one["failed_runs"] \
        or result["same_workspace_overlaps"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
