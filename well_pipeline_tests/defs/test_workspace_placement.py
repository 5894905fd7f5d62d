"""Storage regions in the Dagster layer: a workspace whose data sits in another region is refused by every process
that opens its store (the sync sensor, a run), exactly as by the CLI, and nothing is written in the wrong region."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from well_pipeline.defs.workspace.factory import build_workspace
from well_pipeline.settings import Settings
from well_pipeline.workspaces import PlacementError, load_workspaces, region_root
from well_pipeline_tests.support.sync_sensor import skip_text, tick
from well_pipeline_tests.support.workspace_defs import bundle_for


def write_acme(workspaces: Path, region: str) -> None:
    workspaces.mkdir(exist_ok=True)
    (workspaces / "acme.toml").write_text(
        f'[workspace]\nid = "acme"\ndisplay_name = "Acme SAS"\n[settings]\nstorage_region = "{region}"\n'
        'melio_inbox_address = "acme-ap@invoicesmelio.com"\n', encoding="utf-8")


def test_data_left_in_another_region_is_refused_by_the_sensor_and_the_runs(tmp_path: Path) -> None:
    base = Settings(data_dir=str(tmp_path / "data"), workspaces_dir=str(tmp_path / "workspaces"))
    write_acme(tmp_path / "workspaces", "eu")
    (eu_acme,) = load_workspaces(base)
    eu_acme_store = build_workspace(eu_acme).resources.storage
    eu_acme_store.storage().invoices.count()  # first use: the store is created in eu and stamped there
    eu_folder = region_root(base, "eu") / "acme"
    assert (eu_folder / "well.duckdb").exists() and (eu_folder / "region.json").exists()

    write_acme(tmp_path / "workspaces", "us")  # someone edits the region instead of `well workspace move`
    (us_acme,) = load_workspaces(base)
    bundle = build_workspace(us_acme)
    expected = ("workspace acme is configured for storage region 'us' but its existing data is in region 'eu' at "
                f"{eu_folder}. Well does not move data silently: run `well workspace move acme --to us`")
    with pytest.raises(PlacementError) as refused:
        bundle.resources.storage.storage()
    assert str(refused.value).startswith(expected)
    with dg.instance_for_test() as instance:
        skipped = tick(bundle, instance, None)
    assert skipped.run_requests in (None, []) and expected in skip_text(skipped)
    # Neither the sensor nor the refused run started a second copy in the configured region.
    assert not (region_root(base, "us") / "acme").exists()


def test_a_region_stamp_that_disagrees_is_refused_too(tmp_path: Path) -> None:
    # The default workspace keeps data_dir (not placed by region): only its stamp can tell its region changed.
    data = tmp_path / "data"
    bundle_for(Settings(data_dir=str(data), storage_region="eu")).resources.storage.storage().invoices.count()
    assert (data / "region.json").exists()
    moved = bundle_for(Settings(data_dir=str(data), storage_region="us")).resources.storage
    with pytest.raises(PlacementError, match="was placed in region 'eu'"):
        moved.storage(read_only=True)
