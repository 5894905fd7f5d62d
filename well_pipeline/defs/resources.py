"""Dagster resources: a workspace's settings as resource configuration, adapters built from them at run time.

Each resource *is* a section of the settings model (`well_pipeline/settings.py`): it inherits the section's
fields, so a run's resource config (the launchpad, the run's config tab) shows every non-secret setting with its
value, help text and default, and a launchpad override is validated by the same rules as `well.toml`. Nothing is
declared twice here: a resource adds only the adapters it builds (and the two resources reading secrets carry the
workspace's id, so their store sees only that workspace's `WELL_SECRET_*`). Secrets never appear: resources read
them from the encrypted secret store when a run starts, so they stay out of run config, the event log and the UI.
Each workspace's definitions get their own instances, under keys suffixed with the workspace
(defs/workspace/resources.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from well_pipeline.adapters.melio import SmtpMailer
from well_pipeline.adapters.melio.bill_email import validate_address
from well_pipeline.adapters.qonto import QontoClient
from well_pipeline.adapters.secrets import SMTP_PASSWORD, SecretStore
from well_pipeline.adapters.storage import AttachmentStore, Storage
from well_pipeline.adapters.storage.attachment_url import open_attachment_store
from well_pipeline.adapters.storage.choice import open_storage
from well_pipeline.core.delivery.quota import SendQuota
from well_pipeline.services.qonto_connection import QontoConnectionError, open_client
from well_pipeline.settings import (
    DeliverySettings,
    MelioExportSettings,
    QontoSettings,
    ScoringSettings,
    SecretStoreSettings,
    Settings,
    StorageSettings,
    WorkspaceSettings,
    check_melio_inbox,
    section_values,
)
from well_pipeline.workspaces import Placement, secret_store_for, verify_placement

_WORKSPACE_FIELDS = WorkspaceSettings.model_fields


class WorkspaceSecretStoreSettings(SecretStoreSettings):
    """The secret store's section, and whose store it is: the workspace id and where the workspace files are
    (with several workspaces, a bare `WELL_SECRET_<NAME>` is refused and `WELL_SECRET_<WS>__<NAME>` applies)."""

    workspace_id: str = Field(_WORKSPACE_FIELDS["workspace_id"].default,
                              description=_WORKSPACE_FIELDS["workspace_id"].description)
    workspaces_dir: str = Field(_WORKSPACE_FIELDS["workspaces_dir"].default,
                                description=_WORKSPACE_FIELDS["workspaces_dir"].description)


def _secret_store(location: WorkspaceSecretStoreSettings) -> SecretStore:
    """The workspace's store through the one function that maps its environment (well_pipeline/workspaces.py)."""
    return secret_store_for(Settings(data_dir=location.data_dir, secret_key_file=location.secret_key_file,
                                     workspace_id=location.workspace_id, workspaces_dir=location.workspaces_dir))


class WellStorageResource(dg.ConfigurableResource, StorageSettings):
    """Where Well keeps its data: the DuckDB file (or PostgreSQL schema) and the content-addressed document store.

    It also carries the workspace's placement (its id, and its folder in every other region), so that every
    process opening the store (sensor, run worker, on any machine) refuses data sitting in another region, as the
    CLI does, rather than starting a second copy in this one."""

    workspace_id: str = Field(_WORKSPACE_FIELDS["workspace_id"].default,
                              description=_WORKSPACE_FIELDS["workspace_id"].description)
    other_region_folders: dict[str, str] = Field(
        default_factory=dict, description="Set from the storage regions, not by hand: this workspace's folder in "
        "every other region. Data found in one is refused (`well workspace move`), never opened or copied here.")

    def placement(self) -> Placement:
        return Placement(self.workspace_id, self.storage_region, self.data_path,
                         {region: Path(folder) for region, folder in self.other_region_folders.items()})

    def storage(self, *, read_only: bool = False, lock_timeout_s: float = 30.0) -> Storage:
        """The workspace's storage, of the `storage_backend` setting (chosen by `adapters/storage/choice.py`).
        `lock_timeout_s`: how long an open waits for another process's write lock (the sync sensor waits briefly).
        Data in another region is refused first (`PlacementError`); a write open stamps the region on first use."""
        verify_placement(self.placement(), stamp=not read_only)
        return open_storage(self.storage_backend, duckdb_path=self.duckdb_path,
                            attachments_url=self.attachments_location, postgres_dsn=self.postgres_dsn,
                            postgres_schema=self.postgres_schema, read_only=read_only, lock_timeout_s=lock_timeout_s,
                            s3_endpoint_url=self.attachments_s3_endpoint_url, s3_region=self.attachments_s3_region)

    def attachment_store(self) -> AttachmentStore:
        return open_attachment_store(self.attachments_location, s3_endpoint_url=self.attachments_s3_endpoint_url,
                                     s3_region=self.attachments_s3_region)


class QontoResource(dg.ConfigurableResource, QontoSettings, WorkspaceSecretStoreSettings):
    """Qonto Business API access (credentials come from the secret store)."""

    def secret_store(self) -> SecretStore:
        return _secret_store(self)

    def build_client(self) -> QontoClient:
        """A ready client with the configured credentials; a missing setting or secret fails the run, named."""
        try:
            return open_client(self.connection(), self.secret_store())
        except QontoConnectionError as exc:
            raise dg.DagsterInvariantViolationError(str(exc)) from None


class MelioExportsResource(dg.ConfigurableResource, MelioExportSettings):
    """Where the Melio vendor directory and ledger exports (CSV) are read from."""


class ScoringResource(dg.ConfigurableResource, ScoringSettings):
    """The scoring policy (`policy()`), validated when the resource is built and when a run starts."""


class MelioDeliveryResource(dg.ConfigurableResource, DeliverySettings, WorkspaceSecretStoreSettings):
    """Where bills go: the Melio email-in address and the SMTP relay (its password stays in the secret store)."""

    def checked_addresses(self) -> tuple[str, str, list[str]]:
        """(to, from, warnings); raises a clear error when delivery is not configured."""
        if not self.melio_inbox_address:
            raise dg.DagsterInvariantViolationError(
                "melio_inbox_address is not set (setting WELL_MELIO_INBOX_ADDRESS): copy it from Melio, "
                "Settings → Company settings → 'Get invoices directly to Pay Inbox'.")
        if not self.smtp_host or not self.smtp_from_address:
            raise dg.DagsterInvariantViolationError(
                "smtp_host and smtp_from_address must be set (WELL_SMTP_HOST, WELL_SMTP_FROM_ADDRESS) to deliver.")
        warnings = check_melio_inbox(self.melio_inbox_address, allow_any_domain=self.melio_inbox_allow_any_domain)
        validate_address(self.smtp_from_address)
        return self.melio_inbox_address, self.smtp_from_address, warnings

    def mailer(self) -> SmtpMailer:
        password = None
        if self.smtp_username:
            password = _secret_store(self).require(
                SMTP_PASSWORD, "Run `well secrets set smtp_password` or set WELL_SECRET_SMTP_PASSWORD.")
        return SmtpMailer(self.smtp_host, self.smtp_port, security=self.smtp_security,  # type: ignore[arg-type]
                          username=self.smtp_username or None, password=password,
                          ca_file=self.smtp_ca_file or None, deadline_s=self.smtp_deadline_s)

    def quota(self) -> SendQuota:
        return SendQuota(per_minute=self.smtp_max_per_minute, per_day=self.smtp_max_per_day)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource of the workspace whose settings these are, configured with its section of `settings`.

    Building validates: a mistyped Melio inbox is refused here, when the code location loads, not at delivery.
    """
    # Absolute, so runs, sensors and the CLI read the same files whatever their working directory.
    data_dir = str(settings.data_path.resolve())

    def configured(resource: type[dg.ConfigurableResource], **extra: Any) -> dg.ConfigurableResource:
        values = section_values(settings, resource, only_settings=True)
        return resource(**(values | {"data_dir": data_dir} if "data_dir" in values else values), **extra)

    placement = Placement.of(settings)
    return {
        "storage": configured(WellStorageResource, other_region_folders={
            region: str(folder.resolve()) for region, folder in placement.elsewhere.items()}),
        "qonto": configured(QontoResource),
        "melio_exports": configured(MelioExportsResource),
        "melio_delivery": configured(MelioDeliveryResource),
        "scoring": configured(ScoringResource),
    }
