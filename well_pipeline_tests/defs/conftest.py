"""Fixtures for the Dagster layer: a running Qonto sandbox, a connected secret store, resources pointed at both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

from well_pipeline.adapters.secrets import QONTO_CLIENT_SECRET, SecretStore, StoredRefreshToken
from well_pipeline.defs.resources import build_resources
from well_pipeline.sandbox.qonto import QontoSandbox
from well_pipeline.settings import Settings
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import obtain_tokens, running_sandbox

# Three recent days, so every record is inside both the partition set and Qonto's 3-year exposure.
DAY0 = (datetime.now(UTC) - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class WellEnv:
    sandbox: QontoSandbox
    dataset: Path
    settings: Settings
    resources: dict
    invoices: list[dict]

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
    with running_sandbox(dataset) as sandbox:
        data_dir = tmp_path / "data"
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
        yield WellEnv(sandbox, dataset, settings, build_resources(settings), invoices)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst
