"""Well's settings: one documented list, read from a TOML file and overridden by `WELL_<NAME>` variables.

Why a file plus environment variables: finance-ops teams keep a reviewed settings file in their deployment,
while CI and containers inject per-environment values. Every setting has both spellings:
`history_start` in `well.toml` and `WELL_HISTORY_START` in the environment (the variable wins).

Secrets are *not* settings: client secrets, API keys and tokens live in the encrypted secret store
(`well secrets ...`) or in `WELL_SECRET_<NAME>` variables, never in this file, the run config or the UI.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

ENV_PREFIX = "WELL_"
SETTINGS_FILE_ENV = "WELL_SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = "well.toml"


class SettingsError(ValueError):
    """A setting has a value Well cannot use; the message names the setting and where it came from."""


def check_melio_inbox(address: str, *, allow_any_domain: bool) -> list[str]:
    """The Melio inbox rule with messages naming the settings; returns warnings, raises SettingsError.

    One helper for every place that reads the address (settings, the delivery resource, the delivery use case),
    so the rule and its wording cannot drift: exactly `@invoicesmelio.com`, because the user's relay accepts a
    mistyped domain and the bills would silently vanish.
    """
    # Imported here so settings stays light and importable from any adapter without an import cycle.
    from well_pipeline.adapters.melio.bill_email import MELIO_INBOX_DOMAIN, validate_melio_address

    try:
        warnings = validate_melio_address(address, allow_any_domain=allow_any_domain)
    except ValueError as exc:
        raise SettingsError(f"setting melio_inbox_address ($WELL_MELIO_INBOX_ADDRESS): {exc}") from None
    if address.rpartition("@")[2].lower() != MELIO_INBOX_DOMAIN:  # only reached with allow_any_domain
        warnings = [f"melio_inbox_allow_any_domain ($WELL_MELIO_INBOX_ALLOW_ANY_DOMAIN) is on: {w}" for w in warnings]
    return warnings


def _default_history_start() -> date:
    """Three years back (Qonto exposes at most that), rounded down to the first of the month.

    Rounding keeps the partition set stable for a month instead of shifting every day.
    """
    start = datetime.now(UTC).date() - timedelta(days=3 * 365)
    return start.replace(day=1)


@dataclass(frozen=True)
class Settings:
    """Every tunable of Well. Field docs are rendered into the README's settings table."""

    data_dir: Path = field(
        default=Path(".well_data"),
        metadata={"doc": "Where Well keeps its DuckDB file, attachments and encrypted secrets."},
    )
    storage_region: str = field(
        default="eu",
        metadata={"doc": "Storage region label of this workspace; recorded on every materialisation."},
    )
    duckdb_file: str = field(
        default="well.duckdb",
        metadata={"doc": "DuckDB file name inside `data_dir` (or an absolute path)."},
    )
    history_start: date = field(
        default_factory=_default_history_start,
        metadata={"doc": "First day of the backfill window (the first daily partition). "
                  "Default: three years back, first of that month."},
    )
    qonto_api_url: str = field(
        default="https://thirdparty.qonto.com",
        metadata={"doc": "Qonto Business API base URL (without `/v2`)."},
    )
    qonto_oauth_url: str = field(
        default="https://oauth.qonto.com",
        metadata={"doc": "Qonto OAuth host (authorize, token and revoke endpoints)."},
    )
    qonto_auth_mode: str = field(
        default="oauth",
        metadata={"doc": "`oauth` (refresh token from `well qonto connect`) or `api_key` (`login:secret`)."},
    )
    qonto_client_id: str = field(
        default="",
        metadata={"doc": "OAuth client id of your Qonto app (its secret goes in the secret store)."},
    )
    qonto_api_login: str = field(
        default="",
        metadata={"doc": "Organisation login for API-key mode (its secret key goes in the secret store)."},
    )
    qonto_redirect_uri: str = field(
        default="http://127.0.0.1:8765/callback",
        metadata={"doc": "OAuth redirect URI registered for the Qonto app."},
    )
    qonto_scopes: str = field(
        default="supplier_invoice.read attachment.read organization.read offline_access",
        metadata={"doc": "Space-separated OAuth scopes Well asks for (read-only)."},
    )
    qonto_requests_per_10s: int = field(
        default=950,
        metadata={"doc": "Client-side ceiling per 10 s (Qonto allows 1,000 per 10 s per IP)."},
    )
    qonto_requests_per_10min: int = field(
        default=9500,
        metadata={"doc": "Client-side ceiling per 10 min (Qonto allows 10,000 per 10 min per IP); 0 disables."},
    )
    qonto_download_concurrency: int = field(
        default=8,
        metadata={"doc": "Attachment downloads in flight at once."},
    )
    qonto_timeout_s: float = field(
        default=30.0,
        metadata={"doc": "Timeout of one HTTP request to Qonto, in seconds."},
    )
    qonto_request_deadline_s: float = field(
        default=120.0,
        metadata={"doc": "Overall deadline of one call to Qonto (connect, headers and body: a list page, an "
                  "attachment download, a token call), in seconds; a call still running then is cut and retried, "
                  "and the run fails when every retry hits it."},
    )
    qonto_max_retries: int = field(
        default=5,
        metadata={"doc": "Retries on 429, 5xx, timeouts and dropped connections (with backoff)."},
    )
    attachment_max_mb: int = field(
        default=50,
        metadata={"doc": "Largest attachment Well downloads and stores; larger ones are recorded as failures."},
    )
    melio_vendors_csv: Path = field(
        default=Path("melio/vendors.csv"),
        metadata={"doc": "The Melio vendor directory export (CSV: company_name required; vendor_id, email, iban, "
                  "vat_number optional). Relative paths are inside `data_dir`."},
    )
    melio_bills_csv: Path = field(
        default=Path("melio/bills.csv"),
        metadata={"doc": "The Melio ledger of existing bills (CSV: bill_id, company_name, invoice_number, "
                  "invoice_date, due_date, amount, currency, status). Relative paths are inside `data_dir`."},
    )
    auto_link_threshold: float = field(
        default=0.85,
        metadata={"doc": "Score at or above which an invoice is sent to Melio without a person (0..1)."},
    )
    review_threshold: float = field(
        default=0.55,
        metadata={"doc": "Score at or above which an invoice waits for review; below it is refused (0..1)."},
    )
    eligible_statuses: str = field(
        default="to_review,to_approve,awaiting_payment,pending,scheduled,paid,archived",
        metadata={"doc": "Comma-separated Qonto statuses that are scored; other statuses are refused. Invoices "
                  "Qonto paid or is paying still never auto-link (see `auto_link_paid_in_qonto`)."},
    )
    auto_link_paid_in_qonto: bool = field(
        default=False,
        metadata={"doc": "Let invoices Qonto already paid or is paying (statuses `paid`, `archived`, `scheduled`, "
                  "`pending`, or a transfer or matched transaction on the record) auto-link. Off: they wait in "
                  "review as `ALREADY_PAID_IN_QONTO` / `PAYMENT_IN_QONTO`. Risk when on: Melio drafts a bill for "
                  "an invoice already paid, and someone may pay it a second time."},
    )
    allowed_currencies: str = field(
        default="EUR,USD,GBP",
        metadata={"doc": "Comma-separated currencies that may be sent to Melio."},
    )
    max_auto_link_amount: str = field(
        default="25000",
        metadata={"doc": "Invoices above this amount always wait for a person (empty: no limit)."},
    )
    blocked_vendor_ids: str = field(
        default="",
        metadata={"doc": "Comma-separated Melio vendor ids that are never sent (refused, shown in the queue)."},
    )
    melio_inbox_address: str = field(
        default="",
        metadata={"doc": "The workspace's Melio email-in address; bills are e-mailed there. Its domain must be "
                  "exactly `invoicesmelio.com` (any other is refused when settings load and before delivery)."},
    )
    melio_inbox_allow_any_domain: bool = field(
        default=False,
        metadata={"doc": "Tests and sandboxes only: accept a `melio_inbox_address` outside `@invoicesmelio.com` "
                  "(a warning on every delivery run)."},
    )
    smtp_host: str = field(
        default="",
        metadata={"doc": "SMTP relay Well sends through (your mail provider's submission server)."},
    )
    smtp_port: int = field(default=587, metadata={"doc": "SMTP port (587 for STARTTLS, 465 for implicit TLS)."})
    smtp_security: str = field(
        default="starttls",
        metadata={"doc": "`starttls` or `tls` (implicit); TLS 1.3 is required either way, never plain text."},
    )
    smtp_username: str = field(
        default="",
        metadata={"doc": "SMTP login (its password is the secret `smtp_password`); empty: no AUTH."},
    )
    smtp_from_address: str = field(
        default="",
        metadata={"doc": "Sender address of the bill e-mails (also the Message-ID domain)."},
    )
    smtp_ca_file: str = field(
        default="",
        metadata={"doc": "Extra CA certificate (PEM) to trust for the SMTP server, e.g. the sandbox's; empty: system."},
    )
    smtp_deadline_s: float = field(
        default=120.0,
        metadata={"doc": "Overall deadline of one SMTP attempt (connect, TLS, login, each command and the DATA "
                  "transfer), in seconds; an attempt still running then is cut and retried with backoff, and "
                  "delivery stops with an error when every retry hits it (the rest waits for the next run)."},
    )
    smtp_max_per_minute: int = field(
        default=0,
        metadata={"doc": "Most e-mails handed to the relay in any 60 s (Microsoft 365 allows about 30 a minute per "
                  "mailbox); Well waits when it is reached. 0: unlimited."},
    )
    smtp_max_per_day: int = field(
        default=0,
        metadata={"doc": "Most e-mails handed to the relay in any 24 h, counted from the delivery audit, so a "
                  "restart does not reset it (Google Workspace allows about 2,000 a day, a free Gmail account "
                  "500; Microsoft 365 10,000 recipients a day). When reached, delivery pauses and the rest goes "
                  "out in later runs. 0: unlimited."},
    )
    sync_interval_minutes: int = field(
        default=15,
        metadata={"doc": "How often the Qonto sync sensor polls for new and changed invoices."},
    )
    sync_overlap_minutes: int = field(
        default=10,
        metadata={"doc": "Each incremental sync re-reads this much before the sync marker "
                  "(Qonto's filter bounds are undocumented); rows are de-duplicated by Qonto id."},
    )
    dead_run_check_seconds: int = field(
        default=60,
        metadata={"doc": "How often `run_health_sensor` looks for started runs whose processes are all gone "
                  "(kill -9, OOM, reboot), fails them and frees their DuckDB slot: the bound on how long such a run "
                  "blocks syncing."},
    )
    max_run_minutes: int = field(
        default=360,
        metadata={"doc": "Outer bound on a sync or Melio reload run, alive or not (Dagster's `dagster/max_runtime`, "
                  "enforced by run monitoring); 0: no bound. Keep it well above your longest sync."},
    )
    database_busy_wait_s: float = field(
        default=15.0,
        metadata={"doc": "How long a `well` command waits for the DuckDB file while a run is writing to it before "
                  "saying it is busy (runs hold it only for short steps, so a few seconds is usually enough)."},
    )
    secret_key_file: str = field(
        default="",
        metadata={"doc": "Key file of the encrypted secret store; empty: `secret.key` inside `data_dir`. Keep it "
                  "outside `data_dir` (a copy or backup of the folder then holds no key), or put the key itself in "
                  "`WELL_SECRET_KEY`, which wins over any file. Relative paths are inside `data_dir`."},
    )

    # ---- derived paths -------------------------------------------------------------------------
    @property
    def duckdb_path(self) -> Path:
        path = Path(self.duckdb_file)
        return path if path.is_absolute() else self.data_dir / path

    @property
    def melio_vendors_path(self) -> Path:
        path = self.melio_vendors_csv
        return path if path.is_absolute() else self.data_dir / path

    @property
    def melio_bills_path(self) -> Path:
        path = self.melio_bills_csv
        return path if path.is_absolute() else self.data_dir / path

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def secrets_path(self) -> Path:
        return self.data_dir / "secrets.enc.json"

    @property
    def secret_key_path(self) -> Path:
        """Where the secret store's key file is (read by `SecretStore`; created there only for a new store)."""
        if not self.secret_key_file.strip():
            return self.data_dir / "secret.key"
        path = Path(self.secret_key_file.strip()).expanduser()
        return path if path.is_absolute() else self.data_dir / path

    def csv_set(self, name: str) -> frozenset[str]:
        """A comma-separated setting as a set of trimmed, non-empty values."""
        return frozenset(v.strip() for v in str(getattr(self, name)).split(",") if v.strip())

    def validate(self) -> Settings:
        """Reject values that would fail later and less clearly."""
        if self.qonto_auth_mode not in {"oauth", "api_key"}:
            raise SettingsError(f"qonto_auth_mode must be 'oauth' or 'api_key', got {self.qonto_auth_mode!r}")
        for name in ("qonto_requests_per_10s", "qonto_download_concurrency", "sync_interval_minutes",
                     "attachment_max_mb", "dead_run_check_seconds"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("qonto_timeout_s", "qonto_request_deadline_s", "smtp_deadline_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("qonto_requests_per_10min", "qonto_max_retries", "sync_overlap_minutes", "max_run_minutes",
                     "smtp_max_per_minute", "smtp_max_per_day", "database_busy_wait_s"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be zero or positive, got {getattr(self, name)!r}")
        if self.qonto_requests_per_10s > 1000:
            raise SettingsError("qonto_requests_per_10s above 1000 would exceed Qonto's own rate limit")
        if self.smtp_security not in {"starttls", "tls"}:
            raise SettingsError(f"smtp_security must be 'starttls' or 'tls', got {self.smtp_security!r}")
        if not (0.0 <= self.review_threshold <= self.auto_link_threshold <= 1.0):
            raise SettingsError(f"thresholds must satisfy 0 <= review_threshold ({self.review_threshold}) <= "
                                f"auto_link_threshold ({self.auto_link_threshold}) <= 1")
        if self.max_auto_link_amount.strip():
            try:
                if Decimal(self.max_auto_link_amount) <= 0:
                    raise InvalidOperation
            except InvalidOperation:
                raise SettingsError(f"max_auto_link_amount must be a positive amount or empty, got "
                                    f"{self.max_auto_link_amount!r}") from None
        if self.history_start > datetime.now(UTC).date():
            raise SettingsError(f"history_start {self.history_start} is in the future")
        if self.melio_inbox_address:  # empty: delivery is not configured (the delivery run says so)
            check_melio_inbox(self.melio_inbox_address, allow_any_domain=self.melio_inbox_allow_any_domain)
        return self

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(name, default, doc) for every setting; used by `well settings` and the README."""
        rows = []
        for f in fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            rows.append((f.name, str(default), f.metadata.get("doc", "")))
        return rows


_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})


def _boolean(raw: Any) -> bool:
    """TOML `true`/`false`, or one of the usual spellings in an environment variable; anything else is refused
    (a stray "ture" must not quietly mean False)."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("expected true or false")


def _coerce(name: str, raw: Any, target: Any, origin: str) -> Any:
    """Convert a TOML or environment value into the field's type, or say precisely what is wrong."""
    try:
        if target is bool or target == "bool":
            return _boolean(raw)
        if target is Path or target == "Path":
            return Path(str(raw)).expanduser()
        if target is date or target == "date":
            return raw if isinstance(raw, date) else date.fromisoformat(str(raw).strip())
        if target is int or target == "int":
            if isinstance(raw, bool):
                raise ValueError("a boolean is not a number")
            return int(str(raw).strip())
        if target is float or target == "float":
            return float(str(raw).strip())
        if isinstance(raw, list):
            return ",".join(str(item) for item in raw)
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name!r} from {origin}: cannot read {raw!r} ({exc})") from None


def load_settings(
    settings_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then the settings file, then `WELL_<NAME>` environment variables."""
    environ = os.environ if environ is None else environ
    path = settings_file or Path(environ.get(SETTINGS_FILE_ENV, DEFAULT_SETTINGS_FILE))
    values: dict[str, Any] = {}
    known = {f.name: f for f in fields(Settings)}
    if path.exists():
        with path.open("rb") as fh:
            try:
                document = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"settings file {path}: {exc}") from None
        table = document.get("well", document)
        for key, raw in table.items():
            if key not in known:
                raise SettingsError(f"settings file {path}: unknown setting {key!r} "
                                    f"(known: {', '.join(sorted(known))})")
            values[key] = _coerce(key, raw, known[key].type, f"file {path}")
    for name, f in known.items():
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ and environ[env_name] != "":
            values[name] = _coerce(name, environ[env_name], f.type, f"${env_name}")
    return Settings(**values).validate()
