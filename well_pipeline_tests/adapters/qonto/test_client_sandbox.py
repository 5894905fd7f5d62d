"""The client against the real Qonto sandbox over real sockets: paging, faults, tokens, files, TLS.

Each test starts its own sandbox (milliseconds) on an ephemeral loopback port with exactly the limits
and faults it relies on. Retry backoff is shrunk so the whole module runs in a few seconds.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from well_pipeline.adapters.qonto import (
    ApiKeyAuth,
    AttachmentDownload,
    AttachmentFailure,
    InMemoryTokenStore,
    OAuthTokenAuth,
    QontoAuthError,
    QontoClient,
    QontoClientConfig,
    QontoProtocolError,
    QontoScopeError,
    QontoTransportError,
    RejectedRecord,
    SupplierInvoice,
)
from well_pipeline.adapters.secrets import Secret
from well_pipeline.sandbox.qonto import QontoSandbox
from well_pipeline.sandbox.tls import generate_self_signed
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_client, fast_limiter, running_sandbox

LIST_PATH = "/v2/supplier_invoices"
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def invoices(count: int, start: datetime = T0, step: timedelta = timedelta(minutes=7)) -> list[dict[str, Any]]:
    return [make_invoice(created_at=start + i * step) for i in range(count)]


def oauth_client(sb: QontoSandbox, store: InMemoryTokenStore, **config: Any) -> tuple[QontoClient, OAuthTokenAuth]:
    auth = OAuthTokenAuth(sb.base_url, sb.config.client_id, Secret(sb.config.client_secret), store,
                          verify=config.get("verify", True))
    config.setdefault("backoff_base_s", 0.01)
    config.setdefault("backoff_max_s", 0.2)
    return QontoClient(QontoClientConfig(sb.base_url, **config), auth, limiter=fast_limiter()), auth


def fresh_store(sb: QontoSandbox, scopes: str | None = None) -> InMemoryTokenStore:
    tokens = sb.issue_tokens(scopes) if scopes else sb.issue_tokens()
    return InMemoryTokenStore(tokens["refresh_token"])


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return tmp_path / "data"


# ---- pagination -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("count,expected_requests", [(0, 1), (1, 1), (100, 1), (101, 2)])
def test_pagination_boundaries(dataset: Path, count: int, expected_requests: int) -> None:
    records = invoices(count)
    write_dataset(dataset, records)
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        pages = list(client.iter_supplier_invoice_pages())
        assert sb.stats()["by_path"].get(LIST_PATH, 0) == expected_requests
    assert len(pages) == expected_requests
    assert [r.id for p in pages for r in p.results] == [r["id"] for r in records]  # created_at:asc
    assert pages[0].total_count == count
    assert client.stats.requests == expected_requests


def test_concurrent_pages_keep_order(dataset: Path) -> None:
    records = invoices(430)
    write_dataset(dataset, records, with_default_attachments=False)
    with running_sandbox(dataset, latency_ms=10) as sb, api_key_client(sb, page_concurrency=4) as client:
        got = [r.id for r in client.iter_supplier_invoices(per_page=20)]
        assert sb.stats()["by_path"][LIST_PATH] == 22
        assert sb.stats()["max_in_flight"] >= 2
    assert got == [r["id"] for r in records]


def test_paging_shifts_and_changes_reach_the_callers_warn_not_the_logger(
        dataset: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`raw_ids` expose a record served twice (for distinct-id reconciliation); "changed while paging" goes to the
    caller's `warn` (the Dagster event log in a run), not to stderr."""
    records = invoices(150)
    write_dataset(dataset, records, with_default_attachments=False)
    warnings: list[str] = []
    with running_sandbox(dataset) as sb, api_key_client(sb, page_concurrency=1) as client:
        sb.add_fault(LIST_PATH, kind="shifted_page", times=1)
        pages = []
        with caplog.at_level(logging.WARNING, logger="well.qonto"):
            for page in client.iter_supplier_invoice_pages(warn=warnings.append):
                pages.append(page)
                if page.number == 1:  # Qonto gains a record while we page
                    write_dataset(dataset, [*records, *invoices(1, start=T0 + timedelta(days=30))],
                                  with_default_attachments=False)
    first, second = pages
    assert second.raw_ids[0] == first.raw_ids[-1]  # served on both pages
    assert len(set(first.raw_ids) | set(second.raw_ids)) == 150 and second.total_count == 151
    assert [r.id for r in second.results] == list(second.raw_ids[1:])  # the repeat itself is dropped
    assert client.stats.duplicates_skipped == 1
    assert warnings == ["Qonto supplier invoices changed while paging (total_count 150 -> 151)"]
    assert not [r for r in caplog.records if "changed while paging" in r.getMessage()]


# ---- faults ------------------------------------------------------------------------------------------------

def test_429_burst_recovered_with_retry_after(dataset: Path) -> None:
    records = invoices(60)
    write_dataset(dataset, records, with_default_attachments=False)
    with running_sandbox(dataset, rate_limit_requests=8, rate_limit_window_s=0.5) as sb, \
            api_key_client(sb, max_retries=8) as client:
        got = [r.id for r in client.iter_supplier_invoices(per_page=3)]
        assert sb.stats()["rate_limited"] > 0
        assert client.stats.rate_limited == sb.stats()["rate_limited"]
    assert got == [r["id"] for r in records]


def test_429_without_retry_after_uses_backoff(dataset: Path) -> None:
    write_dataset(dataset, invoices(5), with_default_attachments=False)
    with running_sandbox(dataset, send_retry_after=False) as sb, api_key_client(sb) as client:
        sb.add_fault(LIST_PATH, kind="status", status=429, times=3)
        assert len(list(client.iter_supplier_invoices())) == 5
        assert client.stats.rate_limited == 3 and client.stats.retries == 3


def test_5xx_recovered(dataset: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_dataset(dataset, invoices(150), with_default_attachments=False)
    caplog.set_level(logging.WARNING, logger="well.qonto")
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        sb.add_fault(LIST_PATH, kind="status", status=500, times=2)
        sb.add_fault(LIST_PATH, kind="status", status=503, times=1)
        assert len(list(client.iter_supplier_invoices())) == 150
        assert client.stats.retries == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "well.qonto"]
    assert len(warnings) == 3 and all("trace_id=" in w and LIST_PATH in w for w in warnings)
    assert all("trace_id=none" not in w for w in warnings)  # the sandbox's X-Tyk-Trace-Id is reported


def test_timeout_recovered(dataset: Path) -> None:
    write_dataset(dataset, invoices(3), with_default_attachments=False)
    with running_sandbox(dataset) as sb, api_key_client(sb, timeout_s=0.25) as client:
        sb.add_fault(LIST_PATH, kind="timeout", delay_s=1.5, times=1)
        assert len(list(client.iter_supplier_invoices())) == 3
        assert client.stats.retries == 1


def test_disconnect_recovered(dataset: Path) -> None:
    write_dataset(dataset, invoices(3), with_default_attachments=False)
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        sb.add_fault(LIST_PATH, kind="disconnect", times=2)
        assert len(list(client.iter_supplier_invoices())) == 3
        assert client.stats.retries == 2


def test_access_token_expiry_mid_run_refreshes_and_persists_rotation(dataset: Path) -> None:
    records = invoices(250)
    write_dataset(dataset, records, with_default_attachments=False)
    with running_sandbox(dataset) as sb:
        store = fresh_store(sb)
        original = store.load_refresh_token()
        client, auth = oauth_client(sb, store, page_concurrency=1)
        with client:
            seen: list[str] = []
            for page in client.iter_supplier_invoice_pages():
                seen.extend(r.id for r in page.results)
                if page.number == 1:
                    assert sb.expire_access_tokens() >= 1
            assert seen == [r["id"] for r in records]
            assert auth.refresh_count == 2  # initial + after the server-side expiry
            assert store.saves == 2
            rotated = store.load_refresh_token()
            assert rotated and rotated != original
        # The persisted token is the live one: a brand-new auth (next run) can use it.
        next_client, next_auth = oauth_client(sb, store)
        with next_client:
            assert next_client.get_organization()["id"]
        assert next_auth.refresh_count == 1


def test_html_200_without_staging_token(dataset: Path) -> None:
    write_dataset(dataset, invoices(2), with_default_attachments=False)
    with running_sandbox(dataset, staging_token="stg-token-123") as sb:
        with api_key_client(sb) as client, pytest.raises(QontoProtocolError) as info:
            list(client.iter_supplier_invoices())
        message = str(info.value)
        assert "Qonto answered HTML instead of JSON (status 200)" in message
        assert "X-Qonto-Staging-Token header is missing or wrong" in message
        assert "stg-token-123" not in message
        # OAuth: the token endpoint is trapped the same way.
        client, _ = oauth_client(sb, fresh_store(sb))
        with client, pytest.raises(QontoProtocolError, match="X-Qonto-Staging-Token"):
            client.get_organization()
        # With the right staging token both the token endpoint and the API answer.
        client, _ = oauth_client(sb, fresh_store(sb), staging_token=Secret("stg-token-123"))
        with client:
            assert len(list(client.iter_supplier_invoices())) == 2


def test_html_fault_and_malformed_json(dataset: Path) -> None:
    write_dataset(dataset, invoices(5), with_default_attachments=False)
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        sb.add_fault(LIST_PATH, kind="html", times=1)
        with pytest.raises(QontoProtocolError, match="HTML instead of JSON"):
            list(client.iter_supplier_invoices())
        sb.add_fault(LIST_PATH, kind="malformed_json", times=1)
        with pytest.raises(QontoProtocolError) as info:
            list(client.iter_supplier_invoices())
        assert "malformed JSON" in str(info.value) and "page 1" in str(info.value)
        assert len(list(client.iter_supplier_invoices())) == 5  # faults consumed: healthy again


def test_unknown_field_reported_not_fatal(dataset: Path) -> None:
    write_dataset(dataset, invoices(4), with_default_attachments=False)
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        sb.add_fault(LIST_PATH, kind="unknown_field", times=1, field="brand_new_field", value={"x": 1})
        results = list(client.iter_supplier_invoices())
    assert len(results) == 4 and all(isinstance(r, SupplierInvoice) for r in results)
    assert all(r.unknown_fields == ("brand_new_field",) and r.raw["brand_new_field"] == {"x": 1} for r in results)


def test_optional_supplier_fields_arrive_parsed(dataset: Path) -> None:
    supplier, transfer, tx = (f"{n}f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b" for n in "123")
    full = make_invoice(
        created_at=T0, supplier_id=supplier, issuer_name="Papeterie Dupont SARL", transfer_ids=[transfer],
        request_transfer={"id": transfer, "initiator_id": supplier},
        matched_transactions=[{"subject_id": "s", "subject_type": "SupplierInvoice", "transaction_id": tx}],
        einvoicing_lifecycle_events=[{"status_code": "received", "reason": None, "reason_message": None,
                                      "timestamp": "2026-03-14T09:30:00Z"}],
        available_actions={"delete": False, "archive": True, "unarchive": False, "pay": False,
                           "reasons": {"pay": ["invalid_status"], "delete": [], "archive": [], "unarchive": []}})
    odd = make_invoice(created_at=T0 + timedelta(hours=1), transfer_ids="pending", supplier_id=7)
    write_dataset(dataset, [full, odd], with_default_attachments=False)
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        first, second = list(client.iter_supplier_invoices())
        single = client.get_supplier_invoice(full["id"])
    for parsed in (first, single):
        assert isinstance(parsed, SupplierInvoice) and parsed.unknown_fields == () and parsed.field_warnings == ()
        assert (parsed.supplier_id, parsed.issuer_name) == (supplier, "Papeterie Dupont SARL")
        assert parsed.payment_links == ("request_transfer", "transfer_ids", "matched_transactions")
        assert (parsed.request_transfer_id, parsed.transfer_ids, parsed.matched_transaction_ids) == \
            (transfer, (transfer,), (tx,))
        assert parsed.einvoicing_events == ("received",)
        assert parsed.available_actions is not None and parsed.available_actions.pay_reasons == ("invalid_status",)
    # A malformed optional value over the wire: the bill arrives, the payment evidence counts, a warning says why.
    assert isinstance(second, SupplierInvoice) and second.payment_links == ("transfer_ids",)
    assert second.supplier_id is None and len(second.field_warnings) == 2


def test_null_ocr_fields_and_rejected_records(dataset: Path) -> None:
    nulls = make_invoice(supplier_name=None, invoice_number=None, total_amount=None, due_date=None, iban=None,
                         payable_amount=None, vat_number=None)
    broken = make_invoice(created_at=T0 + timedelta(hours=1), total_amount={"value": "12,50", "currency": "EUR"})
    write_dataset(dataset, [nulls, broken], with_default_attachments=False)
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        first, second = list(client.iter_supplier_invoices())
    assert isinstance(first, SupplierInvoice)
    assert first.supplier_name is None and first.total_amount is None and first.due_date is None
    assert isinstance(second, RejectedRecord) and second.record_id == broken["id"]
    assert "12,50" in second.raw_text and "total_amount" in second.reason


def test_day_and_timezone_boundaries(dataset: Path) -> None:
    paris = timezone(timedelta(hours=2))
    cases = {
        "prev-day-23:59:59Z": ("2026-03-13T23:59:59Z", False),
        "start-exact": ("2026-03-14T00:00:00Z", True),
        "start-in-+02:00": ("2026-03-14T02:00:00+02:00", True),
        "before-start-in-+01:00": ("2026-03-14T00:30:00+01:00", False),  # 23:30 UTC the day before
        "fraction-before-end": ("2026-03-14T23:59:59.999Z", True),
        "end-in-+02:00": ("2026-03-15T01:59:59+02:00", True),  # 23:59:59 UTC
        "end-exact": ("2026-03-15T00:00:00Z", False),
        "end-in--05:00": ("2026-03-14T19:00:00-05:00", False),  # 00:00 UTC next day
    }
    records = []
    for name, (stamp, _) in cases.items():
        record = make_invoice(invoice_number=name)
        record["created_at"] = stamp
        record["updated_at"] = stamp
        records.append(record)
    write_dataset(dataset, records, with_default_attachments=False)
    expected = {name for name, (_, inside) in cases.items() if inside}
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        utc_day = {r.invoice_number for r in client.iter_supplier_invoices(
            created_at_from=datetime(2026, 3, 14, tzinfo=UTC), created_at_to=datetime(2026, 3, 15, tzinfo=UTC))}
        # The same window expressed in +02:00 gives the same answer.
        paris_day = {r.invoice_number for r in client.iter_supplier_invoices(
            created_at_from=datetime(2026, 3, 14, 2, tzinfo=paris),
            created_at_to=datetime(2026, 3, 15, 2, tzinfo=paris))}
        by_update = {r.invoice_number for r in client.iter_supplier_invoices(
            updated_at_from=datetime(2026, 3, 14, tzinfo=UTC), updated_at_to=datetime(2026, 3, 15, tzinfo=UTC))}
    assert utc_day == expected and paris_day == expected and by_update == expected


def test_status_filter(dataset: Path) -> None:
    records = [make_invoice(status="paid"), make_invoice(status="to_review"), make_invoice(status="rejected")]
    write_dataset(dataset, records, with_default_attachments=False)
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        got = {r.status for r in client.iter_supplier_invoices(statuses=["paid", "rejected"])}
    assert got == {"paid", "rejected"}


# ---- attachments ----------------------------------------------------------------------------------------------

def test_attachments_byte_identical(dataset: Path) -> None:
    records = invoices(30)
    records[3]["file_name"] = "scan.jpg"
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
    write_dataset(dataset, records, {records[3]["attachment_id"]: jpeg})
    with running_sandbox(dataset, latency_ms=5) as sb, api_key_client(sb, download_concurrency=6) as client:
        ids = (r.attachment_id for r in client.iter_supplier_invoices())
        results = {r.attachment_id: r for r in client.fetch_attachments(ids)}
        assert sb.stats()["downloads"] == 30
    files = {p.stem: p.read_bytes() for p in (dataset / "qonto" / "attachments").iterdir()}
    assert set(results) == set(files)
    for att, result in results.items():
        assert isinstance(result, AttachmentDownload)
        assert result.content == files[att]
        assert result.sha256 == hashlib.sha256(files[att]).hexdigest() and result.size == len(files[att])
    assert results[records[3]["attachment_id"]].content == jpeg
    assert results[records[3]["attachment_id"]].content_type == "image/jpeg"
    assert client.stats.downloads == 30 and client.stats.bytes == sum(len(b) for b in files.values())


def test_refused_download_url_is_refreshed_once(dataset: Path) -> None:
    records = invoices(3)
    write_dataset(dataset, records)
    with running_sandbox(dataset) as sb, api_key_client(sb) as client:
        sb.add_fault("/_files/", kind="status", status=403, times=1)
        results = list(client.fetch_attachments([r["attachment_id"] for r in records]))
        assert all(isinstance(r, AttachmentDownload) for r in results)
        assert client.stats.url_refreshes == 1
        assert sb.stats()["by_path"]["/v2/attachments/{attachment_id}"] == 4


def test_expired_urls_and_missing_attachments_fail_without_aborting(dataset: Path) -> None:
    records = invoices(2)
    write_dataset(dataset, records)
    ids = [records[0]["attachment_id"], "00000000-0000-0000-0000-000000000000", records[1]["attachment_id"]]
    with running_sandbox(dataset, download_url_ttl_s=-60) as sb, api_key_client(sb) as client:
        results = {r.attachment_id: r for r in client.fetch_attachments(ids)}
    assert all(isinstance(r, AttachmentFailure) for r in results.values())
    assert results[ids[1]].status == 404
    assert results[ids[0]].status == 403 and "fresh" in results[ids[0]].reason


def test_attachment_download_faults_retried(dataset: Path) -> None:
    records = invoices(4)
    write_dataset(dataset, records)
    with running_sandbox(dataset) as sb, api_key_client(sb, download_concurrency=2) as client:
        sb.add_fault("/_files/", kind="disconnect", times=1)
        sb.add_fault("/v2/attachments/", kind="status", status=502, times=1)
        results = list(client.fetch_attachments([r["attachment_id"] for r in records]))
    assert all(isinstance(r, AttachmentDownload) for r in results) and len(results) == 4


def test_missing_scope_is_named(dataset: Path) -> None:
    records = invoices(1)
    write_dataset(dataset, records)
    with running_sandbox(dataset) as sb:
        client, _ = oauth_client(sb, fresh_store(sb, "offline_access supplier_invoice.read"))
        with client:
            assert len(list(client.iter_supplier_invoices())) == 1
            with pytest.raises(QontoScopeError) as info:
                list(client.fetch_attachments([records[0]["attachment_id"]]))
    assert info.value.missing_scope == "attachment.read" and info.value.status == 403


# ---- organization, consent, TLS, secrecy ---------------------------------------------------------------------------

def test_organization_and_revoke_consent(dataset: Path) -> None:
    write_dataset(dataset, invoices(1), with_default_attachments=False)
    with running_sandbox(dataset) as sb:
        client, _ = oauth_client(sb, fresh_store(sb))
        with client:
            assert isinstance(client.get_organization(), dict)
            client.revoke_consent()
            with pytest.raises(QontoAuthError, match="Reconnect Qonto"):
                client.get_organization()


def test_tls13_sandbox_with_pinned_certificate(dataset: Path, tmp_path: Path) -> None:
    records = invoices(3)
    write_dataset(dataset, records)
    cert, key = generate_self_signed(tmp_path / "tls")
    with running_sandbox(dataset, tls_cert=cert, tls_key=key) as sb:
        assert sb.base_url.startswith("https://")
        client, _ = oauth_client(sb, fresh_store(sb), verify=str(cert))
        with client:
            assert len(list(client.iter_supplier_invoices())) == 3
            results = list(client.fetch_attachments([r["attachment_id"] for r in records]))
            assert all(isinstance(r, AttachmentDownload) for r in results)
        # Without the pinned certificate, verification fails (no silent fallback).
        with api_key_client(sb) as untrusted, pytest.raises(QontoTransportError) as info:
            untrusted.get_organization()
        assert "certificate not trusted" in str(info.value) and untrusted.stats.requests == 1  # no retries
        assert sb.stats()["by_path"].get("/v2/organization", 0) == 0


def _secrets_of(sb: QontoSandbox, *stores: InMemoryTokenStore, extra: tuple[str, ...] = ()) -> Iterator[str]:
    yield sb.config.client_secret
    yield sb.config.api_secret
    yield from extra
    for store in stores:
        token = store.load_refresh_token()
        if token:
            yield token


def test_no_secret_in_logs_or_errors(dataset: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    records = invoices(120)
    write_dataset(dataset, records)
    errors: list[str] = []
    with running_sandbox(dataset, staging_token="stg-secret-999") as sb:
        tokens = sb.issue_tokens()
        store = InMemoryTokenStore(tokens["refresh_token"])
        client, auth = oauth_client(sb, store, staging_token=Secret("stg-secret-999"), page_concurrency=1)
        seen_secrets = {tokens["refresh_token"], tokens["access_token"], "stg-secret-999"}
        with client:
            sb.add_fault(LIST_PATH, kind="status", status=500, times=1)
            sb.add_fault("/_files/", kind="status", status=403, times=1)
            for page in client.iter_supplier_invoice_pages():
                seen_secrets.add(auth._access.reveal())  # type: ignore[union-attr]
                if page.number == 1:
                    sb.expire_access_tokens()
            ids = [r["attachment_id"] for r in records[:5]]
            downloads = list(client.fetch_attachments(ids))
            urls = [client.get_attachment(i).url for i in ids]
            seen_secrets.update(u.split("signature=")[1] for u in urls)
            assert all(isinstance(d, AttachmentDownload) for d in downloads)
            seen_secrets.add(auth._access.reveal())  # type: ignore[union-attr]
            store_bad = InMemoryTokenStore("ory_rt_definitely-invalid-token")
            bad_client, _ = oauth_client(sb, store_bad, staging_token=Secret("stg-secret-999"))
            with bad_client, pytest.raises(QontoAuthError) as info:
                bad_client.get_organization()
            errors += [str(info.value), repr(info.value), repr(client), repr(auth), repr(client.stats)]
            seen_secrets.add("ory_rt_definitely-invalid-token")
        seen_secrets.update(_secrets_of(sb, store))
    assert len(seen_secrets) >= 8
    haystack = caplog.text + "\n".join(errors)
    for secret in seen_secrets:
        assert secret not in haystack, "a secret leaked into logs or error messages"


def test_tls12_only_server_refused(tmp_path: Path) -> None:
    """The TLS 1.3 promise: a server that only offers TLS 1.2 fails the handshake, it is never downgraded."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    cert, key = generate_self_signed(tmp_path / "tls12")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # pragma: no cover - the handshake never completes
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        with QontoClient(QontoClientConfig(url, verify=str(cert)), ApiKeyAuth("l", "s"), limiter=fast_limiter()) \
                as client, \
                pytest.raises(QontoTransportError) as info:
            client.get_organization()
        assert "TLS 1.3" in str(info.value) and client.stats.requests == 1
    finally:
        server.shutdown()
        server.server_close()
