"""The Dagster UI as a newcomer sees it, in a real browser, on the README's demo.

The demo stack (`scripts/dev.py demo`: both sandboxes, the OAuth connect, `dagster dev` with its sensors) runs on free
ports with a smaller dataset; headless Chromium (Debian's package, driven by Playwright) opens the UI and checks, by
what is on the screen:

1. the lineage: qonto_supplier_invoices → scored_matches → delivered_bills, with the Melio exports upstream of
   scored_matches and review_queue downstream of it, all in the default workspace's group `main` (every asset key
   is `main/<name>`);
2. after the sensors' first sync, each of the three partitioned assets shows as materialised exactly the days
   holding its rows in DuckDB (read here with plain SQL), and the rest as missing, none failed;
3. a partition range backfill launched by clicking (Materialize… → range → Launch backfill) runs as one run and
   the backfill succeeds, though some days of its range hold no invoice;
4. the review queue: its counts equal what `well review list` prints in a second terminal
   (`scripts/dev.py shell`, as the README says), and its table has the queue's columns;
5. stopping the demo as Ctrl-C does leaves no port open.

Screenshots of each view are saved under `WELL_UI_SCREENSHOTS` (default `.well_data/ui-screenshots/`): the note and
docs/dagster-ui.md point at them. No assertion on time; every wait is on a condition.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from playwright.sync_api import expect, sync_playwright

from well_pipeline.defs.matching.queue_table import QUEUE_SCHEMA
from well_pipeline.defs.workspace.names import STAGE_TAG
from well_pipeline_tests.browser.demo_stack import ROOT, DemoStack, start_demo
from well_pipeline_tests.support.chromium import LAUNCH_ARGS, ensure_chromium
from well_pipeline_tests.support.partition_truth import days_holding_rows
from well_pipeline_tests.support.waiting import wait_until
from well_pipeline_tests.support.workspace_defs import (
    DELIVERED_BILLS,
    MAIN,
    QONTO_SUPPLIER_INVOICES,
    REVIEW_QUEUE,
    SCORED_MATCHES,
)

pytestmark = pytest.mark.slow

# Small enough for the first sync to take seconds, large enough for every queue section and many empty days.
INVOICES, VENDORS = 200, 60
SYNC_TIMEOUT_S = 300  # the sync sensor ticks every 15 s in the demo, after the Melio exports' first load
UI_TIMEOUT_S = 60
BACKFILL_TIMEOUT_S = 240  # the backfill daemon submits and settles on its own 30 s loop
PIPELINE_KEYS = (QONTO_SUPPLIER_INVOICES, SCORED_MATCHES, DELIVERED_BILLS)


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(os.environ.get("WELL_UI_SCREENSHOTS") or ROOT / ".well_data" / "ui-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture(scope="module")
def chromium() -> Path:
    lookup = ensure_chromium()
    if lookup.path is None:
        pytest.skip(f"no Chromium for the browser test: {lookup.detail}")
    return lookup.path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    stack = start_demo(tmp_path_factory.mktemp("demo"), invoices=INVOICES, vendors=VENDORS)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def page(chromium: Path):  # -> playwright Page
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=list(LAUNCH_ARGS), headless=True)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            context.set_default_timeout(UI_TIMEOUT_S * 1000)
            yield context.new_page()
        finally:
            browser.close()


def count(text: str, label: str) -> int:
    """N in the UI's "Label (N)" (thousands separated by commas)."""
    found = re.search(rf"{re.escape(label)} \(([\d,]+)\)", text)
    assert found, f"no '{label} (N)' on the page"
    return int(found.group(1).replace(",", ""))


def first_sync_succeeded(demo: DemoStack) -> bool:
    """The sensors' first `qonto_sync_job__main` run succeeded; a failed one fails the test with the demo's log."""
    with dg.DagsterInstance.from_config(str(demo.dagster_home)) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name=MAIN.sync_job))
    failed = [r.run_id for r in runs if r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
    assert not failed, f"the first sync failed ({failed}):\n{demo.log_tail()}"
    return any(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)


def truth(demo: DemoStack) -> dict[dg.AssetKey, set[str]]:
    """Per asset, the days holding its rows (retried while a writer holds the file)."""
    def read() -> dict[dg.AssetKey, set[str]] | None:
        try:
            return {key: {d.isoformat() for d in days} for key, days in days_holding_rows(demo.duckdb_path).items()}
        except duckdb.IOException:
            return None
    return wait_until(read, UI_TIMEOUT_S, "a read-only open of the demo's DuckDB file")


def partition_counts(page, demo: DemoStack, key: dg.AssetKey) -> dict[str, int]:
    page.goto(f"{demo.ui_url}/assets/{key.to_user_string()}?view=partitions")
    page.get_by_text(re.compile(r"Materialized \(\d")).first.wait_for()
    page.get_by_text(re.compile(r"[\d,]+ Partitions Selected")).first.wait_for()
    text = page.inner_text("body")
    total = re.search(r"([\d,]+) Partitions Selected", text)
    assert total, "no 'N Partitions Selected' on the partitions page"
    return {"total": int(total.group(1).replace(",", "")), "materialized": count(text, "Materialized"),
            "missing": count(text, "Missing"), "failed": count(text, "Failed")}


def queue_totals(cli_output: str) -> tuple[int, int]:
    """(waiting, refused) as `well review list` prints them: the sections' "showing n of N", and the refused line."""
    waiting = sum(int(n) for n in re.findall(r": showing \d+ of (\d+)", cli_output))
    refused = re.search(r"(\d+) refused record\(s\) not listed", cli_output)
    assert refused, cli_output[-2000:]
    return waiting, int(refused.group(1))


def metadata_value(page, key: str) -> str:
    cells = page.locator("tr", has=page.get_by_text(key, exact=True)).first.locator("td")
    return cells.nth(2).inner_text().strip().replace(",", "")  # "1,234" → "1234"


def test_a_newcomer_sees_the_lineage_the_partitions_the_queue_and_backfills_by_clicking(
        demo: DemoStack, page, screenshots: Path) -> None:
    ui = demo.ui_url

    # 1. The lineage, from scored_matches' neighbours (the whole graph: two upstream groups, two downstream assets).
    page.goto(f"{ui}/assets/{SCORED_MATCHES.to_user_string()}")
    page.get_by_text("Downstream assets", exact=True).wait_for()

    def lineage_lists() -> tuple[set[str], set[str]]:
        """The names under *Upstream assets* and *Downstream assets* (the lists load after their headings), each
        without its workspace prefix (`main/`, however the UI separates it)."""
        body = page.inner_text("body")
        upstream = body.split("Upstream assets", 1)[1].split("Downstream assets", 1)[0]
        downstream = body.split("Downstream assets", 1)[1].split("Definition", 1)[0]
        return ({word.split("/")[-1] for word in upstream.split()},
                {word.split("/")[-1] for word in downstream.split()})

    wanted_up = {"qonto_supplier_invoices", "melio_vendor_directory", "melio_ledger"}
    wanted_down = {"delivered_bills", "review_queue"}
    wait_until(lambda: wanted_up <= lineage_lists()[0] and wanted_down <= lineage_lists()[1], UI_TIMEOUT_S,
               lambda: f"scored_matches' upstream {sorted(wanted_up)} and downstream {sorted(wanted_down)}; the "
                       f"page shows {lineage_lists()}")
    page.goto(f"{ui}/assets/{SCORED_MATCHES.to_user_string()}?view=lineage&lineageScope=neighbors&lineageDepth=1")
    # The graph has drawn every neighbour (on this tab their names appear nowhere else); all are in the group `main`
    # (test_defs.py checks the groups; the review queue's page below shows it in its definition).
    wait_until(lambda: (wanted_up | wanted_down) <= set(re.findall(r"\w+", page.inner_text("body"))), UI_TIMEOUT_S,
               f"the lineage graph to draw {sorted(wanted_up | wanted_down)}")
    page.screenshot(path=str(screenshots / "1-lineage.png"))

    # 2. After the sensors' first sync, the partitions are the days holding rows. The sensor may sync again meanwhile
    #    (records updated after the first window's end): the UI and DuckDB are read again until they agree.
    wait_until(lambda: first_sync_succeeded(demo), SYNC_TIMEOUT_S,
               lambda: f"the sensors' first sync to succeed:\n{demo.log_tail()}")
    days: dict[dg.AssetKey, set[str]] = {}
    for key in PIPELINE_KEYS:
        def agree(key: dg.AssetKey = key) -> dict[str, int] | None:
            shown = partition_counts(page, demo, key)
            days.update(truth(demo))
            return shown if shown["materialized"] == len(days[key]) else None
        shown = wait_until(agree, UI_TIMEOUT_S,
                           lambda key=key: f"{key.to_user_string()} to show {len(days[key])} materialised partitions")
        assert days[key] and shown["failed"] == 0
        assert shown["materialized"] + shown["missing"] == shown["total"] > len(days[key])  # empty days: missing
        page.screenshot(path=str(screenshots / f"2-partitions-{key.path[-1]}.png"))

    # 3. A range backfill by clicking: Materialize… → 14 days, some without invoices → Launch backfill.
    today = datetime.now(UTC).date()
    range_days = [(today - timedelta(days=n)).isoformat() for n in range(21, 7, -1)]
    assert set(range_days) - days[QONTO_SUPPLIER_INVOICES], "the range should hold a day without invoices"
    page.goto(f"{ui}/assets/{QONTO_SUPPLIER_INVOICES.to_user_string()}")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    selection = dialog.get_by_placeholder("No matching partitions")
    selection.fill(f"[{range_days[0]}...{range_days[-1]}]")
    selection.press("Enter")
    dialog.get_by_text(f"{len(range_days)} partitions").wait_for()
    dialog.get_by_text("Backfills all partitions in a single run.").wait_for()
    page.screenshot(path=str(screenshots / "4-backfill-launch.png"))
    dialog.get_by_role("button", name="Launch backfill").click()
    created = page.get_by_text(re.compile(r"Created backfill \w+"))
    created.wait_for()
    found = re.search(r"Created backfill (\w+)", created.inner_text())
    assert found
    backfill_id = found.group(1)

    # 4. While it runs: the review queue. The UI's counts are the CLI's (a second terminal beside the demo, as the
    #    README says; both read again should a sync change the queue between the two reads); the table's columns.
    for command in (("well", "delivery", "status"), ("well", "qonto", "status")):
        beside = demo.shell(*command)
        assert beside.returncode == 0, beside.stderr
    assert "connected: yes" in beside.stdout

    def queue_agrees() -> tuple[int, int] | None:
        listed = demo.shell("well", "review", "list")
        assert listed.returncode == 0, listed.stderr
        cli = queue_totals(listed.stdout)
        page.goto(f"{ui}/assets/{REVIEW_QUEUE.to_user_string()}")
        page.get_by_text("waiting_for_review", exact=True).wait_for()
        page.get_by_text(f"{STAGE_TAG}: matching", exact=True).wait_for()  # its tag; its group is the workspace
        shown = metadata_value(page, "waiting_for_review"), metadata_value(page, "refused")
        return cli if shown == tuple(str(n) for n in cli) else None

    waiting, refused = wait_until(queue_agrees, UI_TIMEOUT_S, "the UI's review queue counts to equal the CLI's")
    assert waiting > 0 and refused > 0
    table = page.locator("tr", has=page.get_by_text("queue", exact=True)).first.locator("table").first
    table.scroll_into_view_if_needed()
    headers = [h.strip() for h in table.locator("th").all_inner_texts()]
    assert headers == [column.name for column in QUEUE_SCHEMA.columns]
    assert table.locator("tbody tr").count() >= 1
    page.screenshot(path=str(screenshots / "3-review-queue.png"))

    # 5. The backfill: one run for the whole range, and the backfill succeeded (its empty days included).
    def backfill_status() -> str | None:
        page.goto(f"{ui}/runs/b/{backfill_id}?tab=runs")
        page.get_by_text("Partition selection").wait_for()
        for status in ("Succeeded", "Completed", "Failed", "Canceled"):
            if page.get_by_text(status, exact=True).count():
                return status
        return None

    status = wait_until(backfill_status, BACKFILL_TIMEOUT_S, f"backfill {backfill_id} to finish")
    assert status in ("Succeeded", "Completed"), demo.log_tail()
    with dg.DagsterInstance.from_config(str(demo.dagster_home)) as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]  # one run for the whole range
    # The runs table loads after the backfill's status: wait for its one row (Playwright retries the count).
    expect(page.get_by_text("Success", exact=True)).to_have_count(1, timeout=UI_TIMEOUT_S * 1000)
    page.screenshot(path=str(screenshots / "5-backfill-succeeded.png"))

    # 6. Ctrl-C leaves nothing behind.
    demo.stop()
    assert demo.process.returncode == 0, demo.log_tail()
