"""Well's settings, each declared once: type, default, validation and help text in one `Field` below.

Where values come from: the defaults here, then `well.toml` (path: `WELL_SETTINGS_FILE`, keys at top level or under
`[well]`), then `WELL_<NAME>` environment variables, which win. Finance-ops teams keep a reviewed file in their
deployment; CI and containers inject per-environment values. `load_settings` reads both with pydantic-settings'
own sources, and every error names the setting and where its value came from (`SettingsError`).

Why a pydantic-settings model rather than Dagster `ConfigurableResource`s being the settings: the `well` CLI reads
the settings and must not need Dagster, Dagster config has no `date` or `Path` type, and some settings (the
partition start, sensor intervals, run tags) are needed to *build* the definitions, before any resource exists.
So the settings are plain pydantic sections, and `defs/resources.py` derives each Dagster resource from its
section by inheritance: the UI shows exactly these fields, defaults and help texts, and validates a launchpad
override with the same rules.

Adding a setting: one `Field` in the section whose consumer reads it (a new section also goes into `Settings`'
bases and `SECTIONS`), then `python -m well_pipeline.settings_doc --write` rewrites the README table.

Secrets are *not* settings: client secrets, API keys and tokens live in the encrypted secret store
(`well secrets ...`) or in `WELL_SECRET_<NAME>` variables, never in this file, the run config or the UI.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from well_pipeline.core.scoring.policy import ALLOWED_CURRENCIES, ELIGIBLE_STATUSES, ScoringPolicy

# Shared with services, which must not import this module (see settings_rules.py); re-exported here.
from well_pipeline.settings_rules import ENV_PREFIX, Problem, SettingsError, check_melio_inbox, where_to_set

if TYPE_CHECKING:
    from well_pipeline.services.qonto_connection import QontoConnectionConfig

__all__ = ["ENV_PREFIX", "SETTINGS_FILE_ENV", "DEFAULT_SETTINGS_FILE", "SECTIONS", "Settings", "SettingsError",
           "check_melio_inbox", "code_location_settings", "load_settings"]

SETTINGS_FILE_ENV = "WELL_SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = "well.toml"


# ---- value types: what a file or a variable may hold, read the same way everywhere ------------------------------

def _not_a_switch(value: Any) -> Any:
    """TOML `true` is not a number, though pydantic would read it as 1."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return value


def _as_text(value: Any) -> Any:
    """A `Path` given in code is a path setting's text."""
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _joined(value: Any) -> Any:
    """A TOML list (`["EUR", "USD"]`) is the comma-separated text a variable would hold."""
    return ",".join(str(item) for item in value) if isinstance(value, list | tuple) else value


WholeNumber = Annotated[int, BeforeValidator(_not_a_switch)]
Number = Annotated[float, BeforeValidator(_not_a_switch)]
PathText = Annotated[str, BeforeValidator(_as_text)]
CommaSeparated = Annotated[str, BeforeValidator(_joined)]


def _dsn_without_password(value: str) -> str:
    """A password in a DSN would reach the run config, the UI and `well settings`: refused (without echoing it)."""
    if dsn_has_password(value):
        raise ValueError("holds a password: remove it and put it in PGPASSFILE (~/.pgpass) or PGPASSWORD, "
                         "which libpq reads itself")
    return value


def _usable_attachments_url(value: str) -> str:
    if value.strip():
        from well_pipeline.adapters.storage.attachment_url import parse_attachments_url  # only when set

        parse_attachments_url(value)
    return value.strip()


DsnText = Annotated[str, AfterValidator(_dsn_without_password)]
AttachmentsURL = Annotated[str, AfterValidator(_usable_attachments_url)]


def _comma_set(text: str) -> frozenset[str]:
    return frozenset(item.strip() for item in text.split(",") if item.strip())


def _shown_default(text: str) -> dict[str, str]:
    """For the docs: a default computed at load time, said in words."""
    return {"shown_default": text}


class _Section(BaseModel):
    """One group of settings, read together by one consumer (a Dagster resource, the definitions, the CLI)."""

    # `qonto_client_id = 12345` in the file is text, as it would be in a variable.
    model_config = ConfigDict(coerce_numbers_to_str=True)


def dsn_has_password(dsn: str) -> bool:
    """Whether a libpq DSN (key=value or URL) carries a password (read without psycopg, an optional extra)."""
    if "://" in dsn:
        parts = urlsplit(dsn.strip())
        return bool(parts.password) or "password" in {key.lower() for key, _ in parse_qsl(parts.query)}
    return re.search(r"(?:^|\s)password\s*=", dsn) is not None


# ---- the sections ------------------------------------------------------------------------------------------------

class DataDirSettings(_Section):
    """Where Well keeps its data (shared by every section that names a file)."""

    data_dir: PathText = Field(".well_data", description="Where Well keeps its DuckDB file, attachments and "
                               "encrypted secrets.")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    def inside_data_dir(self, path: str) -> Path:
        """How every file setting reads: absolute as given (after `~`), relative inside `data_dir`."""
        given = Path(path).expanduser()
        return given if given.is_absolute() else self.data_path / given


class StorageSettings(DataDirSettings):
    """Storage: the DuckDB file or PostgreSQL schema, and the attachment store (Dagster resource `storage`)."""

    duckdb_file: PathText = Field("well.duckdb", description="DuckDB file name inside `data_dir` (or an absolute "
                                  "path).")
    storage_region: str = Field("eu", description="Storage region label of this workspace; recorded on every "
                                "materialisation.")
    database_busy_wait_s: Number = Field(15.0, ge=0, description="How long a `well` command waits for the DuckDB "
                                         "file while a run is writing to it before saying it is busy (runs hold it "
                                         "only for short steps, so a few seconds is usually enough).")
    storage_backend: Literal["duckdb", "postgres"] = Field(
        "duckdb", description="Where Well keeps its tables: `duckdb` (one file, one machine) or `postgres` (a "
        "PostgreSQL schema, for multi-node deployments; needs the `postgres` extra, see docs/storage-postgres.md). "
        "Documents go to `attachments_url` either way.")
    postgres_dsn: DsnText = Field("", description="PostgreSQL connection (libpq `host=... dbname=... user=...` or "
                              "`postgresql://user@host/db`) when `storage_backend` is `postgres`. Never a password: "
                              "libpq reads it from `PGPASSFILE` (`~/.pgpass`) or the `PGPASSWORD` variable.")
    postgres_schema: str = Field("well", description="PostgreSQL schema (namespace) holding this workspace's "
                                 "tables, created on first use; workspaces can share a database, one schema each.")
    attachments_url: AttachmentsURL = Field(
        "", json_schema_extra=_shown_default("empty (`file://<data_dir>/attachments`)"),
        description="Where documents are stored, content-addressed: `file:///absolute/path` or `s3://bucket/prefix` "
        "(an S3-compatible object store several machines share; needs the `s3` extra, see "
        "docs/storage-postgres.md). Never credentials in the URL: boto3 reads the standard AWS chain "
        "(`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `~/.aws/credentials`, `AWS_PROFILE`, a role).")
    attachments_s3_endpoint_url: str = Field("", description="Endpoint of an S3-compatible store that is not AWS "
                                             "(MinIO, Ceph...), e.g. `https://minio.internal:9000`; empty: AWS.")
    attachments_s3_region: str = Field("", description="Region of the `s3://` bucket; empty: the AWS chain's "
                                       "(`AWS_REGION`, `~/.aws/config`).")

    @field_validator("attachments_s3_endpoint_url")
    @classmethod
    def _no_credentials_in_endpoint(cls, value: str) -> str:
        if "@" in urlsplit(value.strip()).netloc:
            raise ValueError("must not carry credentials: boto3 reads them from the AWS credential chain")
        return value.strip()

    @field_validator("postgres_schema")
    @classmethod
    def _plain_schema_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise ValueError(f"must be a plain lower-case identifier (letters, digits, _), got {value!r}")
        return value

    @property
    def duckdb_path(self) -> Path:
        return self.inside_data_dir(self.duckdb_file)

    @property
    def attachments_location(self) -> str:
        """The document store's URL: `attachments_url`, or the default folder inside `data_dir` as a file URL."""
        return self.attachments_url or (self.data_path / "attachments").absolute().as_uri()

    @property
    def attachments_dir(self) -> Path:
        """The folder of a `file://` document store (the default, inside `data_dir`); an object store has none."""
        if not self.attachments_url:
            return self.data_path / "attachments"
        from well_pipeline.adapters.storage.attachment_url import parse_attachments_url

        parsed = parse_attachments_url(self.attachments_url)
        if parsed.path is None:
            raise ValueError(f"attachments_url {self.attachments_url} is an object store, not a folder")
        return parsed.path


class SecretStoreSettings(DataDirSettings):
    """The encrypted secret store: where it is and where its key is (resources `qonto` and `melio_delivery`)."""

    secret_key_file: PathText = Field(
        "", json_schema_extra=_shown_default("empty (`<data_dir>/secret.key`)"),
        description="Key file of the encrypted secret store; empty: `secret.key` inside `data_dir`. Keep it "
        "outside `data_dir` (a copy or backup of the folder then holds no key), or put the key itself in "
        "`WELL_SECRET_KEY`, which wins over any file. Relative paths are inside `data_dir`.")

    @property
    def secrets_path(self) -> Path:
        return self.data_path / "secrets.enc.json"

    @property
    def secret_key_path(self) -> Path:
        """Where the secret store's key file is (read by `SecretStore`; created there only for a new store)."""
        return self.inside_data_dir(self.secret_key_file.strip() or "secret.key")


class QontoSettings(_Section):
    """Qonto Business API access and the sync (Dagster resource `qonto`; the OAuth ones also `well qonto`)."""

    qonto_api_url: str = Field("https://thirdparty.qonto.com", description="Qonto Business API base URL (without "
                               "`/v2`).")
    qonto_oauth_url: str = Field("https://oauth.qonto.com", description="Qonto OAuth host (authorize, token and "
                                 "revoke endpoints).")
    qonto_auth_mode: Literal["oauth", "api_key"] = Field(
        "oauth", description="`oauth` (refresh token from `well qonto connect`) or `api_key` (`login:secret`).")
    qonto_client_id: str = Field("", description="OAuth client id of your Qonto app (its secret goes in the secret "
                                 "store).")
    qonto_api_login: str = Field("", description="Organisation login for API-key mode (its secret key goes in the "
                                 "secret store).")
    qonto_redirect_uri: str = Field("http://127.0.0.1:8765/callback", description="OAuth redirect URI registered "
                                    "for the Qonto app.")
    qonto_scopes: str = Field("supplier_invoice.read attachment.read organization.read offline_access",
                              description="Space-separated OAuth scopes Well asks for (read-only).")
    qonto_requests_per_10s: WholeNumber = Field(950, gt=0, le=1000, description="Client-side ceiling per 10 s "
                                                "(Qonto allows 1,000 per 10 s per IP; more is refused).")
    qonto_requests_per_10min: WholeNumber = Field(9500, ge=0, description="Client-side ceiling per 10 min (Qonto "
                                                  "allows 10,000 per 10 min per IP); 0 disables.")
    qonto_download_concurrency: WholeNumber = Field(8, gt=0, description="Attachment downloads in flight at once.")
    qonto_timeout_s: Number = Field(30.0, gt=0, description="Timeout of one HTTP request to Qonto, in seconds.")
    qonto_request_deadline_s: Number = Field(
        120.0, gt=0, description="Overall deadline of one call to Qonto (connect, headers and body: a list page, "
        "an attachment download, a token call), in seconds; a call still running then is cut and retried, and the "
        "run fails when every retry hits it.")
    qonto_max_retries: WholeNumber = Field(5, ge=0, description="Retries on 429, 5xx, timeouts and dropped "
                                           "connections (with backoff).")
    attachment_max_mb: WholeNumber = Field(50, gt=0, description="Largest attachment Well downloads and stores; "
                                           "larger ones are recorded as failures.")
    sync_overlap_minutes: WholeNumber = Field(10, ge=0, description="Each incremental sync re-reads this much "
                                              "before the sync marker (Qonto's filter bounds are undocumented); "
                                              "rows are de-duplicated by Qonto id.")

    def connection(self) -> QontoConnectionConfig:
        """These settings as the Qonto use cases take them (services/qonto_connection.py): the one mapping, used
        by the `qonto` resource and by `well qonto ...`."""
        from well_pipeline.services.qonto_connection import QontoConnectionConfig  # not at import: `well settings`

        return QontoConnectionConfig(
            api_url=self.qonto_api_url, oauth_url=self.qonto_oauth_url, auth_mode=self.qonto_auth_mode,
            client_id=self.qonto_client_id, api_login=self.qonto_api_login, redirect_uri=self.qonto_redirect_uri,
            scopes=self.qonto_scopes, requests_per_10s=self.qonto_requests_per_10s,
            requests_per_10min=self.qonto_requests_per_10min, download_concurrency=self.qonto_download_concurrency,
            timeout_s=self.qonto_timeout_s, request_deadline_s=self.qonto_request_deadline_s,
            max_retries=self.qonto_max_retries,
        )


class MelioExportSettings(DataDirSettings):
    """The Melio exports Well matches against (Dagster resource `melio_exports`)."""

    melio_vendors_csv: PathText = Field(
        "melio/vendors.csv", description="The Melio vendor directory export (CSV: company_name required; "
        "vendor_id, email, iban, vat_number optional). Relative paths are inside `data_dir`.")
    melio_bills_csv: PathText = Field(
        "melio/bills.csv", description="The Melio ledger of existing bills (CSV: bill_id, company_name, "
        "invoice_number, invoice_date, due_date, amount, currency, status). Relative paths are inside `data_dir`.")

    @property
    def melio_vendors_path(self) -> Path:
        return self.inside_data_dir(self.melio_vendors_csv)

    @property
    def melio_bills_path(self) -> Path:
        return self.inside_data_dir(self.melio_bills_csv)


class ScoringSettings(_Section):
    """The scoring policy (Dagster resource `scoring`); defaults are the pure policy's (core/scoring/policy.py)."""

    auto_link_threshold: Number = Field(ScoringPolicy.auto_link_threshold, ge=0, le=1, description="Score at or "
                                        "above which an invoice is sent to Melio without a person (0..1).")
    review_threshold: Number = Field(ScoringPolicy.review_threshold, ge=0, le=1, description="Score at or above "
                                     "which an invoice waits for review; below it is refused (0..1).")
    eligible_statuses: CommaSeparated = Field(
        ",".join(ELIGIBLE_STATUSES), description="Comma-separated Qonto statuses that are scored; other statuses "
        "are refused. Invoices Qonto paid or is paying still never auto-link (see `auto_link_paid_in_qonto`).")
    auto_link_paid_in_qonto: bool = Field(
        ScoringPolicy.auto_link_paid_in_qonto, description="Let invoices Qonto already paid or is paying (statuses "
        "`paid`, `archived`, `scheduled`, `pending`, or a transfer or matched transaction on the record) auto-link. "
        "Off: they wait in review as `ALREADY_PAID_IN_QONTO` / `PAYMENT_IN_QONTO`. Risk when on: Melio drafts a "
        "bill for an invoice already paid, and someone may pay it a second time.")
    allowed_currencies: CommaSeparated = Field(",".join(ALLOWED_CURRENCIES), description="Comma-separated "
                                               "currencies that may be sent to Melio.")
    max_auto_link_amount: str = Field(str(ScoringPolicy.max_auto_link_amount), description="Invoices above this "
                                      "amount always wait for a person (empty: no limit).")
    blocked_vendor_ids: CommaSeparated = Field("", description="Comma-separated Melio vendor ids that are never "
                                               "sent (refused, shown in the queue).")

    @field_validator("max_auto_link_amount")
    @classmethod
    def _positive_amount_or_empty(cls, value: str) -> str:
        if value.strip():
            try:
                if Decimal(value) <= 0:
                    raise InvalidOperation
            except InvalidOperation:
                raise ValueError(f"must be a positive amount or empty, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _review_below_auto_link(self) -> ScoringSettings:
        if self.review_threshold > self.auto_link_threshold:
            raise SettingsError.about([(("review_threshold", "auto_link_threshold"),
                                        f"review_threshold ({self.review_threshold}) must not exceed "
                                        f"auto_link_threshold ({self.auto_link_threshold})")])
        return self

    def policy(self) -> ScoringPolicy:
        """The pure policy these settings describe (the only mapping from settings to `ScoringPolicy`)."""
        amount = self.max_auto_link_amount.strip()
        return ScoringPolicy(
            auto_link_threshold=self.auto_link_threshold,
            review_threshold=self.review_threshold,
            eligible_statuses=_comma_set(self.eligible_statuses),
            auto_link_paid_in_qonto=self.auto_link_paid_in_qonto,
            allowed_currencies=frozenset(c.upper() for c in _comma_set(self.allowed_currencies)),
            max_auto_link_amount=Decimal(amount) if amount else None,
            blocked_vendor_ids=_comma_set(self.blocked_vendor_ids),
        )


class DeliverySettings(_Section):
    """Where bills go: the Melio email-in address and the SMTP relay (Dagster resource `melio_delivery`)."""

    melio_inbox_address: str = Field(
        "", description="The workspace's Melio email-in address; bills are e-mailed there. Its domain must be "
        "exactly `invoicesmelio.com` (any other is refused when settings load and before delivery).")
    melio_inbox_allow_any_domain: bool = Field(
        False, description="**Tests and sandboxes only**: accept a `melio_inbox_address` outside "
        "`@invoicesmelio.com` (a warning on every delivery run).")
    smtp_host: str = Field("", description="SMTP relay Well sends through (your mail provider's submission "
                           "server).")
    smtp_port: WholeNumber = Field(587, gt=0, le=65535, description="SMTP port (587 for STARTTLS, 465 for implicit "
                                   "TLS).")
    smtp_security: Literal["starttls", "tls"] = Field(
        "starttls", description="`starttls` or `tls` (implicit); TLS 1.3 is required either way, never plain text.")
    smtp_username: str = Field("", description="SMTP login (its password is the secret `smtp_password`); empty: "
                               "no AUTH.")
    smtp_from_address: str = Field("", description="Sender address of the bill e-mails (also the Message-ID "
                                   "domain).")
    smtp_ca_file: PathText = Field("", description="Extra CA certificate (PEM) to trust for the SMTP server, e.g. "
                                   "the sandbox's; empty: system.")
    smtp_deadline_s: Number = Field(
        120.0, gt=0, description="Overall deadline of one SMTP attempt (connect, TLS, login, each command and the "
        "DATA transfer), in seconds; an attempt still running then is cut and retried with backoff, and delivery "
        "stops with an error when every retry hits it (the rest waits for the next run).")
    smtp_max_per_minute: WholeNumber = Field(
        0, ge=0, description="Most e-mails handed to the relay in any 60 s (Microsoft 365 allows about 30 a minute "
        "per mailbox); Well waits when it is reached. 0: unlimited.")
    smtp_max_per_day: WholeNumber = Field(
        0, ge=0, description="Most e-mails handed to the relay in any 24 h, counted from the delivery audit, so a "
        "restart does not reset it (Google Workspace allows about 2,000 a day, a free Gmail account 500; Microsoft "
        "365 10,000 recipients a day). When reached, delivery pauses and the rest goes out in later runs. "
        "0: unlimited.")

    @model_validator(mode="after")
    def _melio_inbox(self) -> DeliverySettings:
        # Empty: delivery is not configured (the delivery run says so); otherwise the one inbox rule.
        if self.melio_inbox_address:
            check_melio_inbox(self.melio_inbox_address, allow_any_domain=self.melio_inbox_allow_any_domain)
        return self


class ScheduleSettings(_Section):
    """Partitions, sensors and run limits: read when the code location loads (a change needs a reload)."""

    # Unset is the normal case: the start is then the day the first `well qonto connect` stored (it never moves
    # with the calendar); see services/history_window.py and README "Operations".
    history_start: date | None = Field(
        None, json_schema_extra=_shown_default("empty (the day fixed by the first `well qonto connect`)"),
        description="First day of the backfill window (the first daily partition). Empty: the day the first "
        "`well qonto connect` fixed, three years back on the 1st of that month (before any connect, the same "
        "rule as of today). Set it to widen the window: earlier days appear as missing partitions to backfill; "
        "existing ones are untouched.")
    sync_interval_minutes: Number = Field(15, ge=0.25, description="How often the Qonto sync sensor polls for new "
                                          "and changed invoices (fractions allowed, down to 0.25: the demo polls "
                                          "every 15 s). A quiet tick costs one Qonto request.")
    dead_run_check_seconds: WholeNumber = Field(
        300, gt=0, description="How often `run_health_sensor` looks for started runs whose processes are all gone "
        "(kill -9, OOM, reboot), fails them and frees their DuckDB slot: the bound on how long such a run blocks "
        "syncing (the sync sensor also checks its own previous run on every tick).")
    max_run_minutes: WholeNumber = Field(
        360, ge=0, description="Outer bound on a sync or Melio reload run, alive or not (Dagster's "
        "`dagster/max_runtime`, enforced by run monitoring); 0: no bound. Keep it well above your longest sync.")

    @field_validator("history_start")
    @classmethod
    def _not_in_the_future(cls, value: date | None) -> date | None:
        if value is not None and value > datetime.now(UTC).date():
            raise ValueError(f"{value} is in the future")
        return value


class RegionSettings(BaseModel):
    """Where one storage region keeps its workspaces' data (a table under `[regions.<name>]` in well.toml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_root: PathText = Field("", description="Folder holding this region's workspaces, one sub-folder per "
                                "workspace id; empty: `<data_dir>/regions/<region>`.")
    postgres_dsn: DsnText = Field(
        "", description="PostgreSQL connection of this region (the workspace's schema is its id); empty: the "
        "deployment's `postgres_dsn`. Never a password.")
    attachments_url: AttachmentsURL = Field(
        "", description="Document store of this region (`s3://bucket/prefix`; each workspace's documents under "
        "`<prefix>/<id>`); empty: the deployment's `attachments_url` with `/<id>` appended, or "
        "`<data_root>/<id>/attachments`.")


# Regions every deployment knows; `[regions.<name>]` adds others or places these elsewhere.
BUILT_IN_REGIONS = ("eu", "us")
_REGION_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class WorkspaceSettings(_Section):
    """Workspaces and storage regions: which companies this deployment serves and where their data lives."""

    workspaces_dir: PathText = Field(
        "workspaces", description="Folder of the workspace files (`<id>.toml`, one per company, see "
        "docs/workspaces.md); relative paths are beside the settings file (`WELL_SETTINGS_FILE`, else the current "
        "directory). None there: one workspace, `main`, with these settings as they are.")
    workspace_id: str = Field(
        "main", description="Set by the workspace file (its `[workspace] id`), not by hand: the workspace these "
        "settings belong to (`main`, the default workspace, when there are no workspace files).")
    regions: dict[str, RegionSettings] = Field(
        default_factory=dict,
        json_schema_extra=_shown_default("empty (`eu` and `us` at `<data_dir>/regions/<region>`)"),
        description="Storage regions (`[regions.eu] data_root = \"/srv/well/eu\"`, `postgres_dsn = \"...\"`, "
        "`attachments_url = \"s3://...\"`; as a "
        "variable: JSON). `eu` and `us` always exist; a region without `data_root` keeps its workspaces in "
        "`<data_dir>/regions/<region>`. A workspace's data, attachments and secrets live in `<data_root>/<id>`.")

    @field_validator("regions")
    @classmethod
    def _plain_region_names(cls, value: dict[str, RegionSettings]) -> dict[str, RegionSettings]:
        for name in value:
            if not _REGION_NAME.fullmatch(name):
                raise ValueError(f"region name {name!r} must be lower-case letters, digits, - or _ "
                                 "(starting with a letter)")
        return value

    @property
    def region_names(self) -> tuple[str, ...]:
        """Every region this deployment knows: the built-in ones and those configured, sorted."""
        return tuple(sorted(set(BUILT_IN_REGIONS) | set(self.regions)))

    def region(self, name: str) -> RegionSettings:
        """The configuration of region `name` (an unconfigured built-in region: the defaults)."""
        return self.regions.get(name) or RegionSettings()


# In the order the docs and `well settings` show them.
SECTIONS: tuple[type[_Section], ...] = (StorageSettings, SecretStoreSettings, QontoSettings, MelioExportSettings,
                                        ScoringSettings, DeliverySettings, ScheduleSettings, WorkspaceSettings)


class Settings(StorageSettings, SecretStoreSettings, QontoSettings, MelioExportSettings, ScoringSettings,
               DeliverySettings, ScheduleSettings, WorkspaceSettings, BaseSettings):
    """Every tunable of Well: the union of the sections (each field and rule is declared in its section).

    Constructing one reads nothing (tests and `replace` build them from values); `load_settings` reads the file
    and the variables. Invalid values raise `SettingsError`, never a bare pydantic error.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, case_sensitive=False,
                                      extra="forbid", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the given values: which file and which variables are read is `load_settings`' business."""
        return (init_settings,)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError.about(_problems(exc)) from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed, validated again."""
        return type(self)(**{**self.model_dump(), **changes})


# ---- reading the file and the variables --------------------------------------------------------------------------

def load_settings(settings_file: Path | None = None) -> Settings:
    """Defaults, then the settings file, then `WELL_<NAME>` environment variables (empty ones are ignored)."""
    path = settings_file or Path(os.environ.get(SETTINGS_FILE_ENV) or DEFAULT_SETTINGS_FILE)
    from_file = _file_values(path)
    from_environment = EnvSettingsSource(Settings)()
    origins = {name: f"file {path}" for name in from_file} | {name: where_to_set(name) for name in from_environment}
    try:
        return Settings(**(from_file | from_environment))
    except SettingsError as exc:
        raise exc.located(origins) from None


@functools.cache
def code_location_settings() -> Settings:
    """The settings the Dagster definitions are built from, read once per process.

    Partitions, sensor intervals, run tags and resources then come from one reading (a reload of the code
    location reads again); everything else reads settings when it runs, not when it is imported.
    """
    return load_settings()


def _file_values(path: Path) -> dict[str, Any]:
    """The settings in `path` (top level or `[well]`); an unknown key is an error, as a typo would go unnoticed."""
    if not path.is_file():
        return {}
    try:
        document = TomlConfigSettingsSource(Settings, toml_file=path).toml_data
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"settings file {path}: {exc}") from None
    table = document.get("well", document)
    if not isinstance(table, dict):
        raise SettingsError(f"settings file {path}: `well` must be a table of settings")
    known = list(Settings.model_fields)
    for key in table:
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise SettingsError(f"settings file {path}: unknown setting {key!r} ({hint}`well settings` lists them)")
    return dict(table)


# ---- pydantic's errors in Well's words ---------------------------------------------------------------------------

_READING = {"int": "expected a whole number", "float": "expected a number", "bool": "expected true or false",
            "date": "expected a date like 2024-01-31", "string": "expected text"}


def _problems(exc: ValidationError) -> list[Problem]:
    return [_problem(error) for error in exc.errors(include_url=False)]


def _problem(error: ErrorDetails) -> Problem:
    """One pydantic error as (settings, what is wrong), in the words Well's docs use."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    raised = ctx.get("error")
    if isinstance(raised, SettingsError) and raised.problems:  # a rule spanning settings named them itself
        return raised.problems[0]
    names = tuple(str(part) for part in error["loc"][:1])
    if kind == "extra_forbidden":
        return names, "unknown setting"
    if isinstance(raised, ValueError):
        return names, str(raised)
    if kind == "greater_than":
        text = "must be positive" if ctx["gt"] == 0 else f"must be greater than {ctx['gt']}"
    elif kind == "greater_than_equal":
        text = "must be zero or positive" if ctx["ge"] == 0 else f"must be at least {ctx['ge']}"
    elif kind == "less_than_equal":
        text = f"must be at most {ctx['le']}"
    elif kind == "literal_error":
        text = f"must be {ctx['expected']}"
    else:
        reading = next((why for prefix, why in _READING.items() if kind.startswith(prefix)), error["msg"])
        return names, f"cannot read {given!r} ({reading})"
    return names, f"{text}, got {given!r}"


def section_values(settings: Settings, section: type[BaseModel], *, only_settings: bool = False) -> dict[str, Any]:
    """The values of one section's settings, e.g. to build the Dagster resource derived from that section
    (`only_settings`: skip the fields a resource adds that are not settings)."""
    return {name: getattr(settings, name) for name in section.model_fields
            if not only_settings or name in Settings.model_fields}
