"""Client behaviour against scripted answers (httpx.MockTransport): retries, errors, paging, downloads.

The sandbox integration tests cover the same ground over real sockets; these pin exact request shapes
and edge cases the sandbox cannot easily produce.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from well_pipeline.adapters.qonto import (
    ApiKeyAuth,
    AttachmentDownload,
    AttachmentFailure,
    QontoAPIError,
    QontoAuthError,
    QontoClient,
    QontoClientConfig,
    QontoNotFoundError,
    QontoProtocolError,
    QontoRateLimited,
    QontoScopeError,
    RejectedRecord,
    SupplierInvoice,
)
from well_pipeline.adapters.qonto.rate_limiter import RateLimiter, RateWindow
from well_pipeline.adapters.qonto.responses import parse_retry_after
from well_pipeline.adapters.secrets import Secret
from well_pipeline_tests.support.qonto_records import make_invoice

BASE = "http://127.0.0.1:9"
API_SECRET = "api-secret-ABC"
STAGING = "staging-token-DEF"
JSON = {"content-type": "application/json; charset=utf-8"}


def client_for(handler, *, limiter: RateLimiter | None = None, **config) -> QontoClient:
    config.setdefault("backoff_base_s", 0.001)
    return QontoClient(QontoClientConfig(BASE, **config), ApiKeyAuth("org", Secret(API_SECRET)),
                       transport=httpx.MockTransport(handler),
                       limiter=limiter or RateLimiter([RateWindow(10_000, 1.0)]))


def page_body(records: list[dict], page: int, per_page: int, total: int) -> dict:
    total_pages = max(1, -(-total // per_page))
    return {
        "supplier_invoices": records,
        "meta": {"current_page": page, "next_page": page + 1 if page < total_pages else None,
                 "prev_page": page - 1 if page > 1 else None, "total_pages": total_pages,
                 "total_count": total, "per_page": per_page},
    }


def listing_handler(records: list[dict], seen: list[httpx.Request], delay: float = 0.0):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if delay:
            time.sleep(random.uniform(0, delay))
        page = int(request.url.params.get("page", "1"))
        per_page = int(request.url.params.get("per_page", "100"))
        chunk = records[(page - 1) * per_page: page * per_page]
        return httpx.Response(200, json=page_body(chunk, page, per_page, len(records)))
    return handler


def no_secret_leak(*texts: str) -> None:
    for text in texts:
        assert API_SECRET not in text and STAGING not in text


# ---- request shape --------------------------------------------------------------------------------------

def test_list_request_shape_and_headers() -> None:
    seen: list[httpx.Request] = []
    records = [make_invoice() for _ in range(3)]
    with client_for(listing_handler(records, seen), staging_token=Secret(STAGING)) as client:
        result = list(client.iter_supplier_invoices(
            created_at_from=datetime(2026, 3, 14, tzinfo=timezone(timedelta(hours=2))),
            created_at_to=datetime(2026, 3, 15, 0, 0, 0, 500_000, tzinfo=UTC),
            statuses=["to_review", "paid"], per_page=50))
    request = seen[0]
    params = request.url.params
    assert params["filter[created_at_from]"] == "2026-03-13T21:59:59Z"  # UTC, Z, widened by 1 s
    assert params["filter[created_at_to]"] == "2026-03-15T00:00:02Z"  # ceil to the second, +1 s
    assert params.get_list("filter[status][]") == ["to_review", "paid"]
    assert params["page"] == "1" and params["per_page"] == "50" and params["sort_by"] == "created_at:asc"
    assert "current_page" not in params
    assert request.headers["X-Qonto-Staging-Token"] == STAGING
    assert request.headers["User-Agent"].startswith("well/")
    assert len(result) == 0 or all(isinstance(r, SupplierInvoice) for r in result)


def test_naive_datetimes_refused() -> None:
    with client_for(lambda r: httpx.Response(200)) as client, pytest.raises(ValueError):
        list(client.iter_supplier_invoices(created_at_from=datetime(2026, 1, 1)))
    with client_for(lambda r: httpx.Response(200)) as client, pytest.raises(ValueError):
        list(client.iter_supplier_invoices(per_page=101))


def test_local_window_is_half_open_regardless_of_server_bounds() -> None:
    start = datetime(2026, 3, 14, tzinfo=UTC)
    end = start + timedelta(days=1)
    records = [
        make_invoice(created_at=start - timedelta(seconds=1)),      # out
        make_invoice(created_at=start),                             # in (from inclusive)
        make_invoice(created_at=end - timedelta(microseconds=1)),  # in
        make_invoice(created_at=end),                               # out (to exclusive)
    ]
    records[2]["created_at"] = "2026-03-15T01:59:59.999999+02:00"
    seen: list[httpx.Request] = []
    with client_for(listing_handler(records, seen)) as client:
        got = list(client.iter_supplier_invoices(created_at_from=start, created_at_to=end))
    assert [r.id for r in got] == [records[1]["id"], records[2]["id"]]


# ---- pagination -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("count,per_page,requests", [(0, 100, 1), (1, 100, 1), (100, 100, 1), (101, 100, 2),
                                                     (1000, 7, 143)])
def test_pagination_counts_and_order(count: int, per_page: int, requests: int) -> None:
    records = [make_invoice(created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i))
               for i in range(count)]
    seen: list[httpx.Request] = []
    with client_for(listing_handler(records, seen, delay=0.002), page_concurrency=4) as client:
        pages = list(client.iter_supplier_invoice_pages(per_page=per_page))
    assert len(seen) == requests
    assert [p.number for p in pages] == list(range(1, requests + 1))
    assert [r.id for p in pages for r in p.results] == [r["id"] for r in records]
    assert sorted(int(r.url.params["page"]) for r in seen) == list(range(1, requests + 1))


def test_sequential_when_page_concurrency_is_one() -> None:
    records = [make_invoice() for _ in range(25)]
    seen: list[httpx.Request] = []
    with client_for(listing_handler(records, seen), page_concurrency=1) as client:
        assert len(list(client.iter_supplier_invoices(per_page=5))) == 25
    assert [int(r.url.params["page"]) for r in seen] == [1, 2, 3, 4, 5]


def test_duplicates_across_pages_dropped() -> None:
    a, b = make_invoice(), make_invoice()

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json=page_body([a, b] if page == 1 else [b], page, 2, 3))

    with client_for(handler) as client:
        assert [r.id for r in client.iter_supplier_invoices(per_page=2)] == [a["id"], b["id"]]
        assert client.stats.duplicates_skipped == 1


def test_ignored_page_parameter_detected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page_body([make_invoice()], 1, 1, 5))  # always page 1

    with client_for(handler, page_concurrency=1) as client, pytest.raises(QontoProtocolError) as info:
        list(client.iter_supplier_invoices(per_page=1))
    assert "'page' parameter was ignored" in str(info.value)


def test_rejected_records_are_yielded_not_raised() -> None:
    good, bad = make_invoice(), make_invoice(total_amount={"value": 12.5, "currency": "EUR"})
    seen: list[httpx.Request] = []
    with client_for(listing_handler([good, bad], seen)) as client:
        results = list(client.iter_supplier_invoices())
        assert client.stats.rejected_records == 1
    assert isinstance(results[0], SupplierInvoice)
    assert isinstance(results[1], RejectedRecord) and "decimal string" in results[1].reason


# ---- protocol errors -------------------------------------------------------------------------------------

def test_html_200_is_the_staging_token_trap() -> None:
    handler = lambda r: httpx.Response(200, content=b"<!DOCTYPE html><html>Qonto</html>",  # noqa: E731
                                       headers={"content-type": "text/html"})
    with client_for(handler) as client, pytest.raises(QontoProtocolError) as info:
        list(client.iter_supplier_invoices())
    assert str(info.value).startswith(
        "Qonto answered HTML instead of JSON (status 200). In Qonto's sandbox this means the "
        "X-Qonto-Staging-Token header is missing or wrong")


def test_redirect_to_login_is_the_staging_trap_too() -> None:
    handler = lambda r: httpx.Response(302, headers={"location": "https://qonto.onelogin.com/login"})  # noqa: E731
    with client_for(handler) as client, pytest.raises(QontoProtocolError) as info:
        client.get_organization()
    assert "onelogin" in str(info.value) and "X-Qonto-Staging-Token" in str(info.value)


def test_malformed_json_names_page_and_shows_safe_excerpt() -> None:
    body = b'{"supplier_invoices": [{"id": "x", "access_token": "ory_at_LEAK", "total'
    with client_for(lambda r: httpx.Response(200, content=body, headers=JSON)) as client, \
            pytest.raises(QontoProtocolError) as info:
        list(client.iter_supplier_invoices())
    message = str(info.value)
    assert "malformed JSON" in message and "/v2/supplier_invoices (page 1)" in message
    assert "supplier_invoices" in message and "ory_at_LEAK" not in message


@pytest.mark.parametrize("body", [[], {"supplier_invoices": []}, {"meta": {}}, {"supplier_invoices": {}, "meta": {}}])
def test_unexpected_top_level_shape(body: object) -> None:
    with client_for(lambda r: httpx.Response(200, json=body)) as client, pytest.raises(QontoProtocolError) as info:
        list(client.iter_supplier_invoices())
    assert "Unexpected answer shape" in str(info.value)


def test_non_json_content_type() -> None:
    with client_for(lambda r: httpx.Response(200, content=b"ok", headers={"content-type": "text/plain"})) as c, \
            pytest.raises(QontoProtocolError, match="instead of JSON"):
        c.get_organization()


# ---- HTTP errors and retries ---------------------------------------------------------------------------------

def error(status: int, code: str, detail: str, trace: str = "trace-1", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "detail": detail}], "trace_id": trace},
                          headers={"X-Tyk-Trace-Id": trace, **headers})


def scripted(*responses: httpx.Response | Exception):
    queue = list(responses)
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item
    handler.calls = calls  # type: ignore[attr-defined]
    return handler


ORG = httpx.Response(200, json={"organization": {"id": "org-1"}})


def test_429_honours_retry_after_and_pauses_limiter(caplog: pytest.LogCaptureFixture) -> None:
    handler = scripted(error(429, "too_many_requests", "slow down", "tr-429", **{"Retry-After": "0.2"}), ORG)
    caplog.set_level(logging.DEBUG)
    with client_for(handler, staging_token=STAGING) as client:
        start = time.monotonic()
        assert client.get_organization() == {"id": "org-1"}
        assert time.monotonic() - start >= 0.19
        assert client.stats.rate_limited == 1 and client.stats.retries == 1 and client.stats.requests == 2
    retry_logs = [r for r in caplog.records if r.name == "well.qonto" and r.levelno == logging.WARNING]
    assert len(retry_logs) == 1
    assert "429" in retry_logs[0].getMessage() and "tr-429" in retry_logs[0].getMessage()
    assert "/v2/organization" in retry_logs[0].getMessage()
    no_secret_leak(caplog.text)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    future = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= parse_retry_after(format_datetime(future, usegmt=True)) <= 31
    assert parse_retry_after(format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)) == 0.0
    assert parse_retry_after("99999") == 600.0


def test_5xx_and_transport_errors_retried() -> None:
    handler = scripted(error(500, "internal", "boom"), error(503, "unavailable", "x"),
                       httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("Server disconnected"),
                       httpx.ConnectError("refused"), ORG)
    with client_for(handler) as client:
        assert client.get_organization() == {"id": "org-1"}
        assert client.stats.retries == 5


def test_retries_exhausted_raise_with_trace_id() -> None:
    with client_for(scripted(error(502, "bad_gateway", "upstream", "tr-502")), max_retries=2) as client, \
            pytest.raises(QontoAPIError) as info:
        client.get_organization()
    assert info.value.status == 502 and info.value.trace_id == "tr-502"
    assert "tr-502" in str(info.value) and "upstream" in str(info.value)


def test_429_exhausted_raises_rate_limited() -> None:
    handler = scripted(error(429, "too_many_requests", "x", **{"Retry-After": "0"}))
    with client_for(handler, max_retries=1) as client, pytest.raises(QontoRateLimited):
        client.get_organization()


def test_401_with_api_key_is_auth_error_without_secret() -> None:
    with client_for(scripted(error(401, "unauthorized", "Invalid credentials"))) as client, \
            pytest.raises(QontoAuthError) as info:
        client.get_organization()
    assert "Reconnect Qonto" in str(info.value) and "the secret qonto_api_secret" in str(info.value)
    no_secret_leak(str(info.value), repr(info.value), repr(client))


def test_403_names_missing_scope() -> None:
    handler = scripted(error(403, "forbidden", "missing required oauth scope: attachment.read"))
    with client_for(handler) as client, pytest.raises(QontoScopeError) as info:
        client.get_attachment("a1")
    assert info.value.missing_scope == "attachment.read" and "attachment.read" in str(info.value)


def test_404_and_other_4xx() -> None:
    with client_for(scripted(error(404, "not_found", "no such invoice"))) as client, \
            pytest.raises(QontoNotFoundError):
        client.get_supplier_invoice("nope")
    with client_for(scripted(error(422, "not_in_list", "bad status"))) as client, \
            pytest.raises(QontoAPIError) as info:
        list(client.iter_supplier_invoices(statuses=["weird"]))
    assert info.value.status == 422 and info.value.code == "not_in_list"


def test_get_supplier_invoice_and_revoke_consent() -> None:
    raw = make_invoice()
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"supplier_invoice": raw})

    with client_for(handler) as client:
        assert client.get_supplier_invoice(raw["id"]).id == raw["id"]
        client.revoke_consent()
    assert calls == [f"GET /v2/supplier_invoices/{raw['id']}", "DELETE /v2/oauth2/consents"]


# ---- attachments ------------------------------------------------------------------------------------------

class AttachmentServer:
    def __init__(self) -> None:
        self.files = {f"att-{i}": (b"%PDF-" + bytes([i]) * (1000 + i)) for i in range(20)}
        self.expired_once: set[str] = set()
        self.download_headers: list[httpx.Headers] = []
        self.lock = threading.Lock()
        self.meta_calls = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/v2/attachments/"):
            with self.lock:
                self.meta_calls += 1
            att = path.rsplit("/", 1)[1]
            if att == "missing":
                return error(404, "not_found", "attachment not found")
            content = self._content(att)
            version = "2" if att in self.expired_once else "1"
            return httpx.Response(200, json={"attachment": {
                "id": att, "file_name": f"{att}.pdf", "file_size": None if att == "liar" else str(len(content)),
                "file_content_type": "application/pdf", "created_at": "2026-03-14T09:30:00+01:00",
                "url": f"{BASE}/_files/{att}?signature=SIG{version}&expires=1"}})
        if path.startswith("/_files/"):
            self.download_headers.append(request.headers)
            att = path.rsplit("/", 1)[1]
            if att == "expiring" and request.url.params["signature"] == "SIG1":
                with self.lock:
                    self.expired_once.add(att)
                return httpx.Response(403, content=b"<Error>Request has expired</Error>")
            return httpx.Response(200, content=self._content(att),
                                  headers={"content-type": "application/pdf"})
        raise AssertionError(path)

    def _content(self, att: str) -> bytes:
        return self.files.get(att, b"x" * (5000 if att in ("big", "liar") else 3000))


def test_fetch_attachments_bytes_hashes_failures_and_refresh(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = AttachmentServer()
    ids = list(server.files) + ["missing", "expiring", "att-0", "", "big", "liar"]
    with client_for(server.handler, staging_token=STAGING, download_concurrency=4) as client:
        results = {r.attachment_id: r for r in client.fetch_attachments(ids, max_bytes=4096)}
        stats = client.stats.as_dict()
    assert set(results) == set(server.files) | {"missing", "expiring", "big", "liar"}  # repeats and blanks skipped
    for att, content in server.files.items():
        result = results[att]
        assert isinstance(result, AttachmentDownload)
        assert result.content == content and result.sha256 == hashlib.sha256(content).hexdigest()
        assert result.size == len(content) and result.content_type == "application/pdf"
    assert isinstance(results["missing"], AttachmentFailure) and results["missing"].status == 404
    assert isinstance(results["expiring"], AttachmentDownload)  # 403 → fresh URL → success
    assert isinstance(results["big"], AttachmentFailure) and "limit" in results["big"].reason
    assert isinstance(results["liar"], AttachmentFailure) and "4096" in results["liar"].reason
    assert all("(setting attachment_max_mb)" in results[a].reason for a in ("big", "liar"))  # the setting to raise
    assert stats["url_refreshes"] == 1 and stats["downloads"] == 21
    for headers in server.download_headers:  # pre-signed URLs get neither our credentials nor staging token
        assert "authorization" not in headers and "x-qonto-staging-token" not in headers
    assert "SIG1" not in caplog.text and "SIG2" not in caplog.text
    no_secret_leak(caplog.text)


def test_fetch_attachments_auth_error_stops_batch() -> None:
    with client_for(scripted(error(401, "unauthorized", "revoked"))) as client, pytest.raises(QontoAuthError):
        list(client.fetch_attachments(["a", "b", "c"]))


def test_plain_http_download_to_remote_host_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"attachment": {"id": "a", "url": "http://files.example.com/a"}})

    with client_for(handler) as client:
        [result] = list(client.fetch_attachments(["a"]))
    assert isinstance(result, AttachmentFailure) and "non-https" in result.reason


def test_lazy_ids_from_listing() -> None:
    server = AttachmentServer()
    consumed: list[str] = []

    def ids():
        for att in server.files:
            consumed.append(att)
            yield att

    with client_for(server.handler, download_concurrency=2) as client:
        stream = client.fetch_attachments(ids())
        next(stream)
        assert len(consumed) <= 5  # bounded look-ahead, not the whole iterable up front
        assert len(list(stream)) == 19


def test_stats_and_json_roundtrip() -> None:
    with client_for(lambda r: ORG) as client:
        client.get_organization()
        assert json.loads(json.dumps(client.stats.as_dict()))["requests"] == 1
