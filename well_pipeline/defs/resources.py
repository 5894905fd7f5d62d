"""Dagster resources: Well's settings as resource configuration, adapters built from them at run time.

Every non-secret setting appears in the Dagster UI (Deployment → Resources) with its current value. Secrets
never do: resources read them from the encrypted secret store when a run starts, so they stay out of run
config, the event log and the UI.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from well_pipeline.adapters.melio import SmtpMailer
from well_pipeline.adapters.melio.bill_email import validate_address
from well_pipeline.adapters.qonto import ApiKeyAuth, OAuthTokenAuth, QontoClient, RateLimiter
from well_pipeline.adapters.secrets import (
    QONTO_API_SECRET,
    QONTO_CLIENT_SECRET,
    QONTO_STAGING_TOKEN,
    SMTP_PASSWORD,
    SecretStore,
    StoredRefreshToken,
)
from well_pipeline.adapters.storage import AttachmentStore, Database, DuckDBStorage, Storage
from well_pipeline.core.delivery.quota import SendQuota
from well_pipeline.core.scoring.policy import ScoringPolicy
from well_pipeline.services.scoring import policy_from_settings
from well_pipeline.settings import Settings, check_melio_inbox, load_settings


class WellStorageResource(dg.ConfigurableResource):
    """Where Well keeps its data: the DuckDB file and the content-addressed attachment store."""

    data_dir: str = Field(description="Data directory (DuckDB file, attachments, encrypted secrets).")
    duckdb_path: str = Field(description="The DuckDB file every Well asset writes (one writer at a time).")
    storage_region: str = Field(description="Storage region configured for this workspace.")

    def storage(self, *, read_only: bool = False) -> Storage:
        """The workspace's storage (DuckDB today; the implementation is chosen here, nowhere else)."""
        return DuckDBStorage(Path(self.duckdb_path), Path(self.data_dir) / "attachments", read_only=read_only)

    def database(self) -> Database:
        return Database(Path(self.duckdb_path))

    def attachment_store(self) -> AttachmentStore:
        return AttachmentStore(Path(self.data_dir) / "attachments")


class QontoResource(dg.ConfigurableResource):
    """Connection settings for the Qonto Business API (credentials come from the secret store)."""

    api_url: str = Field(description="Qonto API base URL (without /v2).")
    oauth_url: str = Field(description="Qonto OAuth host.")
    auth_mode: str = Field(description="'oauth' or 'api_key'.")
    client_id: str = Field(default="", description="OAuth client id (the secret stays in the secret store).")
    api_login: str = Field(default="", description="Organisation login for API-key mode.")
    requests_per_10s: int = Field(description="Client-side request ceiling per 10 s.")
    requests_per_10min: int = Field(description="Client-side request ceiling per 10 min (0 disables).")
    download_concurrency: int = Field(description="Attachment downloads in flight at once.")
    timeout_s: float = Field(description="Timeout of one request, in seconds.")
    request_deadline_s: float = Field(description="Overall deadline of one call to Qonto (connect, headers and "
                                      "body), in seconds; retried, then the run fails.")
    max_retries: int = Field(description="Retries on 429, 5xx, timeouts and dropped connections.")
    attachment_max_mb: int = Field(description="Largest attachment downloaded; larger ones are recorded as failures.")
    secrets_path: str = Field(description="Encrypted secret store holding the Qonto credentials.")
    store_key_file: str = Field(default="", description="Key file of the secret store (a path, never the key); "
                                "empty: beside the store. WELL_SECRET_KEY, if set, wins.")
    sync_overlap_minutes: int = Field(description="Incremental syncs re-read this much before the sync marker.")

    def secret_store(self) -> SecretStore:
        return SecretStore(Path(self.secrets_path), key_file=Path(self.store_key_file) if self.store_key_file else None)

    def build_auth(self) -> ApiKeyAuth | OAuthTokenAuth:
        """The configured credentials; raises a clear error naming what is missing and how to set it."""
        store = self.secret_store()
        if self.auth_mode == "api_key":
            secret = store.require(QONTO_API_SECRET, "Run `well secrets set qonto_api_secret` or set "
                                   "WELL_SECRET_QONTO_API_SECRET.")
            if not self.api_login:
                raise dg.DagsterInvariantViolationError("qonto_api_login is not set (setting WELL_QONTO_API_LOGIN).")
            return ApiKeyAuth(self.api_login, secret)
        if not self.client_id:
            raise dg.DagsterInvariantViolationError(
                "qonto_client_id is not set (setting WELL_QONTO_CLIENT_ID); then run `well qonto connect`."
            )
        client_secret = store.require(QONTO_CLIENT_SECRET, "Run `well secrets set qonto_client_secret`.")
        tokens = StoredRefreshToken(store)
        if tokens.load_refresh_token() is None:
            raise dg.DagsterInvariantViolationError(
                "Qonto is not connected (no refresh token). Run `well qonto connect` to approve access in Qonto."
            )
        return OAuthTokenAuth(self.oauth_url, self.client_id, client_secret, tokens,
                              staging_token=store.get(QONTO_STAGING_TOKEN), deadline_s=self.request_deadline_s)

    def build_client(self, auth: ApiKeyAuth | OAuthTokenAuth | None = None) -> QontoClient:
        """A ready client (with `auth`, or the configured credentials)."""
        return QontoClient(
            self.api_url,
            auth or self.build_auth(),
            staging_token=self.secret_store().get(QONTO_STAGING_TOKEN),
            limiter=RateLimiter.from_limits(self.requests_per_10s, self.requests_per_10min),
            timeout_s=self.timeout_s,
            request_deadline_s=self.request_deadline_s,
            max_retries=self.max_retries,
            download_concurrency=self.download_concurrency,
        )


class MelioExportsResource(dg.ConfigurableResource):
    """Where the Melio vendor directory and ledger exports (CSV) are read from."""

    vendors_csv: str = Field(description="Melio vendor directory export (CSV).")
    bills_csv: str = Field(description="Melio ledger of existing bills (CSV).")


class ScoringResource(dg.ConfigurableResource):
    """The scoring policy: thresholds and rules (validated when a run starts)."""

    auto_link_threshold: float = Field(description="Score at or above which an invoice is sent without a person.")
    review_threshold: float = Field(description="Score at or above which an invoice waits for review.")
    eligible_statuses: str = Field(description="Comma-separated Qonto statuses that are scored (others refused).")
    auto_link_paid_in_qonto: bool = Field(default=False, description="Opt-in: let invoices Qonto paid or is paying "
                                          "auto-link (risk: paid twice).")
    allowed_currencies: str = Field(description="Comma-separated currencies that may be sent to Melio.")
    max_auto_link_amount: str = Field(description="Invoices above this amount wait for a person (empty: no limit).")
    blocked_vendor_ids: str = Field(default="", description="Comma-separated vendor ids never sent.")

    def policy(self) -> ScoringPolicy:
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return policy_from_settings(Settings(**fields).validate())


class MelioDeliveryResource(dg.ConfigurableResource):
    """Where bills go: the Melio email-in address and the SMTP relay (its password stays in the secret store)."""

    inbox_address: str = Field(description="The workspace's Melio email-in address (exactly ...@invoicesmelio.com).")
    allow_any_domain: bool = Field(default=False, description="Tests and sandboxes only: accept an inbox outside "
                                   "@invoicesmelio.com (setting melio_inbox_allow_any_domain; warned on every run).")
    smtp_host: str = Field(description="SMTP relay host.")
    smtp_port: int = Field(description="SMTP relay port.")
    smtp_security: str = Field(description="'starttls' or 'tls'; TLS 1.3 required.")
    smtp_username: str = Field(default="", description="SMTP login (empty: no AUTH).")
    from_address: str = Field(description="Sender address of the bill e-mails.")
    ca_file: str = Field(default="", description="Extra CA certificate to trust (the sandbox's); empty: system.")
    deadline_s: float = Field(default=120.0, description="Overall deadline of one SMTP attempt, in seconds "
                              "(setting smtp_deadline_s).")
    max_per_minute: int = Field(default=0, description="E-mails per 60 s the relay allows (smtp_max_per_minute); "
                                "0: unlimited.")
    max_per_day: int = Field(default=0, description="E-mails per 24 h the relay allows (smtp_max_per_day); "
                             "0: unlimited.")
    secrets_path: str = Field(description="Encrypted secret store holding smtp_password.")
    store_key_file: str = Field(default="", description="Key file of the secret store (a path, never the key); "
                                "empty: beside the store. WELL_SECRET_KEY, if set, wins.")

    def checked_addresses(self) -> tuple[str, str, list[str]]:
        """(to, from, warnings); raises a clear error when delivery is not configured."""
        if not self.inbox_address:
            raise dg.DagsterInvariantViolationError(
                "melio_inbox_address is not set (setting WELL_MELIO_INBOX_ADDRESS): copy it from Melio, "
                "Settings → Company settings → 'Get invoices directly to Pay Inbox'.")
        if not self.smtp_host or not self.from_address:
            raise dg.DagsterInvariantViolationError(
                "smtp_host and smtp_from_address must be set (WELL_SMTP_HOST, WELL_SMTP_FROM_ADDRESS) to deliver.")
        warnings = check_melio_inbox(self.inbox_address, allow_any_domain=self.allow_any_domain)
        validate_address(self.from_address)
        return self.inbox_address, self.from_address, warnings

    def mailer(self) -> SmtpMailer:
        password = None
        if self.smtp_username:
            store = SecretStore(Path(self.secrets_path),
                                key_file=Path(self.store_key_file) if self.store_key_file else None)
            password = store.require(
                SMTP_PASSWORD, "Run `well secrets set smtp_password` or set WELL_SECRET_SMTP_PASSWORD.")
        return SmtpMailer(self.smtp_host, self.smtp_port, security=self.smtp_security,  # type: ignore[arg-type]
                          username=self.smtp_username or None, password=password, ca_file=self.ca_file or None,
                          deadline_s=self.deadline_s)

    def quota(self) -> SendQuota:
        return SendQuota(per_minute=self.max_per_minute, per_day=self.max_per_day)


def build_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    settings = settings or load_settings()
    if settings.melio_inbox_address:  # refuse a non-Melio inbox when configured, not only when a run starts
        check_melio_inbox(settings.melio_inbox_address, allow_any_domain=settings.melio_inbox_allow_any_domain)
    data_dir = settings.data_dir.resolve()
    return {
        "storage": WellStorageResource(
            data_dir=str(data_dir),
            duckdb_path=str(settings.duckdb_path.resolve()),
            storage_region=settings.storage_region,
        ),
        "qonto": QontoResource(
            api_url=settings.qonto_api_url,
            oauth_url=settings.qonto_oauth_url,
            auth_mode=settings.qonto_auth_mode,
            client_id=settings.qonto_client_id,
            api_login=settings.qonto_api_login,
            requests_per_10s=settings.qonto_requests_per_10s,
            requests_per_10min=settings.qonto_requests_per_10min,
            download_concurrency=settings.qonto_download_concurrency,
            timeout_s=settings.qonto_timeout_s,
            request_deadline_s=settings.qonto_request_deadline_s,
            max_retries=settings.qonto_max_retries,
            attachment_max_mb=settings.attachment_max_mb,
            secrets_path=str(settings.secrets_path.resolve()),
            store_key_file=str(settings.secret_key_path.resolve()),
            sync_overlap_minutes=settings.sync_overlap_minutes,
        ),
        "melio_exports": MelioExportsResource(
            vendors_csv=str(settings.melio_vendors_path.resolve()),
            bills_csv=str(settings.melio_bills_path.resolve()),
        ),
        "melio_delivery": MelioDeliveryResource(
            inbox_address=settings.melio_inbox_address,
            allow_any_domain=settings.melio_inbox_allow_any_domain,
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            smtp_security=settings.smtp_security,
            smtp_username=settings.smtp_username,
            from_address=settings.smtp_from_address,
            ca_file=settings.smtp_ca_file,
            deadline_s=settings.smtp_deadline_s,
            max_per_minute=settings.smtp_max_per_minute,
            max_per_day=settings.smtp_max_per_day,
            secrets_path=str(settings.secrets_path.resolve()),
            store_key_file=str(settings.secret_key_path.resolve()),
        ),
        "scoring": ScoringResource(
            auto_link_threshold=settings.auto_link_threshold,
            review_threshold=settings.review_threshold,
            eligible_statuses=settings.eligible_statuses,
            auto_link_paid_in_qonto=settings.auto_link_paid_in_qonto,
            allowed_currencies=settings.allowed_currencies,
            max_auto_link_amount=settings.max_auto_link_amount,
            blocked_vendor_ids=settings.blocked_vendor_ids,
        ),
    }
