"""Fixtures for the Dagster layer: a running Qonto sandbox, a connected secret store, the default workspace's
definitions (`WellEnv.ws`) with resources pointed at both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

from well_pipeline.adapters.secrets import QONTO_CLIENT_SECRET, SMTP_PASSWORD, SecretStore, StoredRefreshToken
from well_pipeline.defs.workspace.factory import WorkspaceBundle
from well_pipeline.defs.workspace.resources import RESOURCE_NAMES
from well_pipeline.sandbox.melio import InboxConfig, MelioInbox
from well_pipeline.sandbox.qonto import QontoSandbox
from well_pipeline.settings import Settings
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import obtain_tokens, running_sandbox
from well_pipeline_tests.support.workspace_defs import bundle_for

# Three recent days, so every record is inside both the partition set and Qonto's 3-year exposure.
DAY0 = (datetime.now(UTC) - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class WellEnv:
    sandbox: QontoSandbox
    dataset: Path
    settings: Settings
    ws: WorkspaceBundle
    invoices: list[dict]

    @property
    def resources(self) -> dict:
        """The workspace's resource instances by name (`storage`, `qonto`...), to read the store or the settings."""
        return {name: getattr(self.ws.resources, name) for name in RESOURCE_NAMES}

    def use(self, settings: Settings) -> WellEnv:
        """These settings from now on, and the workspace's definitions built again from them."""
        self.settings, self.ws = settings, bundle_for(settings)
        return self

    def write(self, invoices: list[dict]) -> None:
        self.invoices = invoices
        write_dataset(self.dataset, invoices)


def day_key(offset: int) -> str:
    return (DAY0 + timedelta(days=offset)).strftime("%Y-%m-%d")


def sample_invoices() -> list[dict]:
    """Three days of records with the edges that matter: a Paris-midnight record, null OCR fields, a bad amount."""
    records = []
    for day in range(3):
        for n in range(4):
            created = DAY0 + timedelta(days=day, hours=2 + 5 * n)
            records.append(make_invoice(invoice_id=f"inv-{day}-{n}", attachment_id=f"att-{day}-{n}",
                                        created_at=created, invoice_number=f"F-{day}{n}"))
    # 00:30 Paris summer time on day 1 is 22:30 UTC on day 0: it belongs to day 0's partition.
    paris = make_invoice(invoice_id="inv-paris", attachment_id="att-paris",
                         created_at=DAY0 + timedelta(hours=22, minutes=30))
    paris["created_at"] = (DAY0 + timedelta(hours=22, minutes=30)).astimezone(
        __import__("datetime").timezone(timedelta(hours=2))).isoformat()
    records.append(paris)
    records.append(make_invoice(invoice_id="inv-null-ocr", attachment_id="att-null",
                                created_at=DAY0 + timedelta(hours=1),
                                supplier_name=None, invoice_number=None, total_amount=None, due_date=None,
                                iban=None, vat_number=None))
    records.append(make_invoice(invoice_id="inv-bad-amount", attachment_id="att-bad",
                                created_at=DAY0 + timedelta(hours=3),
                                total_amount={"value": "12,50", "currency": "EUR"}))
    return records


@pytest.fixture
def well_env(tmp_path: Path) -> Iterator[WellEnv]:
    dataset = tmp_path / "dataset"
    invoices = sample_invoices()
    write_dataset(dataset, invoices)
    with connected_env(dataset, tmp_path / "data", invoices) as env:
        yield env


@contextmanager
def connected_env(dataset: Path, data_dir: Path, invoices: list[dict]) -> Iterator[WellEnv]:
    """A Qonto sandbox serving `dataset` (the sandbox layout: qonto/invoices.jsonl + attachments) and a Well data
    directory `data_dir` connected to it (client secret and refresh token in its secret store)."""
    with running_sandbox(dataset) as sandbox:
        settings = Settings(
            data_dir=data_dir,
            qonto_api_url=sandbox.base_url,
            qonto_oauth_url=sandbox.base_url,
            qonto_client_id=sandbox.config.client_id,
            qonto_download_concurrency=4,
            qonto_max_retries=3,
        )
        store = SecretStore(settings.secrets_path, environ={})
        store.set(QONTO_CLIENT_SECRET, sandbox.config.client_secret)
        with httpx.Client() as http:
            tokens = obtain_tokens(http, sandbox)
        StoredRefreshToken(store).save_refresh_token(tokens["refresh_token"])
        yield WellEnv(sandbox, dataset, settings, bundle_for(settings), invoices)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def one_planned_event_per_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A range run over many partitions (a whole-history backfill: ~1,100 days) otherwise logs one "planned" event
    per day and asset before it starts: ~3,300 sqlite writes, 50-90 s on this machine, unrelated to what the tests
    check. Dagster's switch logs one per asset (with the partition subset) instead; the run itself is unchanged,
    and so are its materialisations (what the partition status is computed from)."""
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")


# -- delivery: the Melio inbox sandbox and the Melio exports -------------------------------------------------
IBAN = "FR7630006000011234567890189"
VENDORS = f"company_name,vendor_id,email,iban,vat_number\nPapeterie Dupont SARL,V-1,,{IBAN},\n"
BILLS = "bill_id,company_name,invoice_number,invoice_date,due_date,amount,currency,status\n" \
        "MB-1,Papeterie Dupont,OLD-1,2025-01-01,2025-02-01,10.00,EUR,paid\n"
INBOX_ADDRESS = "papeterie_1234@invoicesmelio.com"
TYPO_ADDRESS = "papeterie_1234@invoicemelio.com"  # issue 7: one letter short, and every relay accepts it


def clean_invoices(count: int, day: int = 0) -> list[dict]:
    return [make_invoice(invoice_id=f"d{day}-{n:03d}", attachment_id=f"a{day}-{n:03d}",
                         created_at=DAY0 + timedelta(days=day, minutes=10 * n), invoice_number=f"F-{day}-{n:03d}",
                         status="awaiting_payment", supplier_name="Papeterie Dupont SARL", iban=IBAN)
            for n in range(count)]


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[MelioInbox]:
    with MelioInbox(tmp_path / "inbox", InboxConfig(port=0, tls_port=0)) as server:
        yield server


def use_inbox(well_env: WellEnv, inbox: MelioInbox, *, password: str = "well-sandbox-smtp-secret",
              **settings: object) -> WellEnv:
    """Point `well_env` at `inbox` (STARTTLS, the sandbox's login) with the Melio CSVs; `settings` override."""
    configured = well_env.settings.replace(**({
        "melio_inbox_address": INBOX_ADDRESS, "smtp_host": "127.0.0.1", "smtp_port": inbox.port,
        "smtp_security": "starttls", "smtp_username": InboxConfig().username,
        "smtp_from_address": "well@papeterie-client.example", "smtp_ca_file": str(inbox.cert_path)} | settings))
    SecretStore(configured.secrets_path, environ={}).set(SMTP_PASSWORD, password)
    melio = configured.data_path / "melio"
    melio.mkdir(parents=True, exist_ok=True)
    (melio / "vendors.csv").write_text(VENDORS)
    (melio / "bills.csv").write_text(BILLS)
    return well_env.use(configured)


@pytest.fixture
def delivery_env(well_env: WellEnv, inbox: MelioInbox) -> WellEnv:
    return use_inbox(well_env, inbox)



def load_melio(env: WellEnv, instance: dg.DagsterInstance) -> None:
    assert dg.materialize(list(env.ws.melio_assets), instance=instance).success
