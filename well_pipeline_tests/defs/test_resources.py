"""The resources are the settings' sections: the same fields and help in the Dagster UI, the same rules for a
launchpad override, and the files the settings name."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.defs.resources import (
    ScoringResource,
    WellStorageResource,
    WorkspaceSecretStoreSettings,
    build_resources,
)
from well_pipeline.settings import SECTIONS, SecretStoreSettings, Settings
from well_pipeline_tests.support.workspace_defs import bundle_for

# What the two resources reading secrets add to their sections: whose store it is (its workspace's WELL_SECRET_*).
WORKSPACE_FIELDS = set(WorkspaceSecretStoreSettings.model_fields) - set(SecretStoreSettings.model_fields)
# What the storage adds: the workspace's placement, checked by every process opening the store (not settings).
PLACEMENT_FIELDS = {"workspace_id", "other_region_folders"}


def caption(section: type) -> str:
    return (section.__doc__ or "").strip().splitlines()[0]


def test_each_resource_is_made_of_settings_sections_and_says_so(tmp_path: Path) -> None:
    for key, resource in build_resources(Settings(data_dir=tmp_path)).items():
        sections = [section for section in SECTIONS if isinstance(resource, section)]
        assert sections, key
        extra = WORKSPACE_FIELDS if isinstance(resource, WorkspaceSecretStoreSettings) else set()
        extra |= PLACEMENT_FIELDS if isinstance(resource, WellStorageResource) else set()
        assert set(type(resource).model_fields) == {name for s in sections for name in s.model_fields} | extra, key
        for section in SECTIONS:  # the docs' captions name exactly the resources built from the section
            assert (f"`{key}`" in caption(section)) == (section in sections), (key, section.__name__)


def test_the_ui_shows_every_setting_with_its_help_and_current_value(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, smtp_port=2525, qonto_max_retries=2, blocked_vendor_ids="V-9")
    defs = dg.Definitions(resources=build_resources(settings))
    shown = 0
    for key, definition in defs.get_repository_def().get_top_level_resources().items():
        schema = definition.config_schema.as_field()
        configured = schema.default_value  # what the UI lists as the resource's configured values
        for name, field in schema.config_type.fields.items():
            if name not in Settings.model_fields:  # the storage's placement: described, derived, not a setting
                assert key == "storage" and name in PLACEMENT_FIELDS and field.description, (key, name)
                continue
            assert field.description == Settings.model_fields[name].description, (key, name)
            expected = str(tmp_path.resolve()) if name == "data_dir" else getattr(settings, name)
            assert configured[name] == expected, (key, name)
            shown += 1
    assert shown >= len(Settings.model_fields) - 4  # all but the definition-time ones (partitions, sensors, runs)


def test_resources_read_the_files_inside_an_absolute_data_dir(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    resources = build_resources(Settings(data_dir="data", secret_key_file="keys/secret.key",
                                         melio_bills_csv="/srv/exports/bills.csv"))
    data = tmp_path / "data"
    assert resources["storage"].data_dir == str(data)  # what runs started elsewhere will read
    assert resources["storage"].duckdb_path == data / "well.duckdb"
    assert resources["qonto"].secret_key_path == resources["melio_delivery"].secret_key_path == data / "keys" / \
        "secret.key"
    assert resources["melio_exports"].melio_vendors_path == data / "melio" / "vendors.csv"
    assert resources["melio_exports"].melio_bills_path == Path("/srv/exports/bills.csv")


def test_the_scoring_resource_gives_the_policy_and_qonto_its_connection(tmp_path: Path) -> None:
    resources = build_resources(Settings(data_dir=tmp_path, review_threshold=0.5, qonto_client_id="cid"))
    assert resources["scoring"].policy() == ScoringPolicy(review_threshold=0.5)
    connection = resources["qonto"].connection()
    assert (connection.client_id, connection.max_retries, connection.scopes) == (
        "cid", 5, "supplier_invoice.read attachment.read organization.read offline_access")


@dg.asset
def policy_seen(scoring: ScoringResource) -> dg.MaterializeResult:
    """What an asset sees of the scoring resource (the real resource, configured at launch)."""
    return dg.MaterializeResult(metadata={"auto_link_threshold": scoring.policy().auto_link_threshold})


def test_a_launchpad_override_is_validated_by_the_settings_rules(tmp_path: Path) -> None:
    resources = build_resources(Settings(data_dir=tmp_path))
    with dg.instance_for_test() as instance:
        override = {"resources": {"scoring": {"config": {"auto_link_threshold": 0.9}}}}
        result = dg.materialize([policy_seen], resources=resources, instance=instance, run_config=override)
        (materialization,) = result.asset_materializations_for_node("policy_seen")
        assert materialization.metadata["auto_link_threshold"].value == 0.9

        override = {"resources": {"scoring": {"config": {"review_threshold": 0.95}}}}
        refused = dg.materialize([policy_seen], resources=resources, instance=instance, run_config=override,
                                 raise_on_error=False)
    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE"]
    error = failure.event_specific_data.error
    assert error.cls_name == "ValidationError"
    assert "review_threshold (0.95) must not exceed auto_link_threshold (0.85)" in error.message


def test_the_melio_sensor_watches_the_files_the_resource_reads(tmp_path: Path) -> None:
    sensor = bundle_for(Settings(data_dir=tmp_path, melio_vendors_csv="exports/vendors.csv")).melio_sensor
    vendors = tmp_path / "exports" / "vendors.csv"
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        waiting = sensor(context)
        assert isinstance(waiting, dg.SkipReason) and str(vendors.resolve()) in waiting.skip_message
        vendors.parent.mkdir()
        vendors.write_text("company_name\nPapeterie Dupont SARL\n", encoding="utf-8")
        result = sensor(context)
    (request,) = result.run_requests
    assert request.tags["well/changed"] == "vendors"
