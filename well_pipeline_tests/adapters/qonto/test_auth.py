"""OAuth token handling against a scripted token endpoint (httpx.MockTransport): fast and exact."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from well_pipeline.adapters.qonto import (
    ApiKeyAuth,
    InMemoryTokenStore,
    OAuthTokenAuth,
    QontoAuthError,
    QontoClient,
    QontoClientConfig,
    QontoProtocolError,
    build_authorize_url,
    exchange_code,
)
from well_pipeline.adapters.qonto.auth import _MAX_RETRY_AFTER_S, _OAuthEndpoint
from well_pipeline.adapters.qonto.errors import QontoRateLimited
from well_pipeline.adapters.qonto.rate_limiter import RateLimiter, RateWindow
from well_pipeline.adapters.secrets import Secret

BASE = "http://127.0.0.1:9"
CLIENT_SECRET = "client-secret-XYZ"


class FakeQonto:
    """Token endpoint with rotation + an API endpoint that checks bearer tokens."""

    def __init__(self, expires_in: int = 3600) -> None:
        self.lock = threading.Lock()
        self.expires_in = expires_in
        self.generation = 0
        self.valid_refresh = "ory_rt_0"
        self.valid_access: set[str] = set()
        self.events: list[str] = []
        self.token_error: tuple[int, bytes, str] | None = None
        self.api_staging: list[str | None] = []
        self.token_staging: list[str | None] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return self.token(request)
        if request.url.path == "/oauth2/revoke":
            self.events.append("revoke:" + parse_qs(request.content.decode())["token"][0])
            return httpx.Response(200, json={})
        self.api_staging.append(request.headers.get("X-Qonto-Staging-Token"))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        with self.lock:
            ok = token in self.valid_access
        self.events.append(f"api:{token if ok else 'rejected'}")
        if not ok:
            return httpx.Response(401, json={"errors": [{"code": "unauthorized", "detail": "expired"}],
                                             "trace_id": "t401"})
        return httpx.Response(200, json={"organization": {"id": "org"}})

    def token(self, request: httpx.Request) -> httpx.Response:
        self.token_staging.append(request.headers.get("X-Qonto-Staging-Token"))
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert form["client_id"] == "cid" and form["client_secret"] == CLIENT_SECRET
        assert "authorization" not in request.headers
        if self.token_error:
            status, body, ctype = self.token_error
            return httpx.Response(status, content=body, headers={"content-type": ctype})
        time.sleep(0.02)  # widen race windows for the concurrency test
        with self.lock:
            if form["grant_type"] == "refresh_token" and form["refresh_token"] != self.valid_refresh:
                return httpx.Response(400, json={"error": "invalid_grant",
                                                 "error_description": "refresh token ory_rt_x is invalid"})
            self.generation += 1
            access = f"ory_at_{self.generation}"
            self.valid_refresh = f"ory_rt_{self.generation}"
            self.valid_access = {access}
            self.events.append(f"refresh:{self.generation}")
            return httpx.Response(200, json={
                "access_token": access, "refresh_token": self.valid_refresh, "expires_in": self.expires_in,
                "token_type": "bearer", "scope": "supplier_invoice.read offline_access",
            })


class RecordingStore(InMemoryTokenStore):
    def __init__(self, token: str, events: list[str]) -> None:
        super().__init__(token)
        self.events = events

    def save_refresh_token(self, token: str) -> None:
        self.events.append(f"save:{token}")
        super().save_refresh_token(token)


def make(fake: FakeQonto, *, clock=time.time, store=None, staging=None) -> tuple[QontoClient, OAuthTokenAuth]:
    transport = httpx.MockTransport(fake.handler)
    store = store or RecordingStore("ory_rt_0", fake.events)
    auth = OAuthTokenAuth(BASE, "cid", Secret(CLIENT_SECRET), store, transport=transport, clock=clock)
    client = QontoClient(QontoClientConfig(BASE, staging_token=staging, backoff_base_s=0.001), auth,
                         transport=transport, limiter=RateLimiter([RateWindow(1000, 1.0)]))
    return client, auth


def test_rotated_refresh_token_saved_before_use() -> None:
    fake = FakeQonto()
    client, auth = make(fake)
    with client:
        client.get_organization()
        client.get_organization()
    assert fake.events == ["refresh:1", "save:ory_rt_1", "api:ory_at_1", "api:ory_at_1"]
    assert auth.refresh_count == 1
    assert auth.granted_scopes == ("supplier_invoice.read", "offline_access")


def test_proactive_refresh_before_expiry() -> None:
    fake = FakeQonto(expires_in=3600)
    now = [1_000_000.0]
    client, auth = make(fake, clock=lambda: now[0])
    with client:
        client.get_organization()
        now[0] += 3600 - 61  # still 61 s left: no refresh
        client.get_organization()
        now[0] += 2  # 59 s left: inside the 60 s margin → refresh first, no 401 seen
        client.get_organization()
    assert [e for e in fake.events if e.startswith(("refresh", "api"))] == [
        "refresh:1", "api:ory_at_1", "api:ory_at_1", "refresh:2", "api:ory_at_2"]
    assert "api:rejected" not in fake.events


def test_401_refreshes_once_and_replays() -> None:
    fake = FakeQonto()
    client, auth = make(fake)
    with client:
        client.get_organization()
        fake.valid_access = set()  # server-side expiry (like sb.expire_access_tokens())
        assert client.get_organization() == {"id": "org"}
    assert fake.events[-4:] == ["api:rejected", "refresh:2", "save:ory_rt_2", "api:ory_at_2"]


def test_no_refresh_token_says_which_command_connects() -> None:
    fake = FakeQonto()
    client, _ = make(fake, store=InMemoryTokenStore(None))
    with client, pytest.raises(QontoAuthError) as info:
        client.get_organization()
    assert "no_refresh_token" in str(info.value) and "run `well qonto connect`" in str(info.value)
    assert not [e for e in fake.events if e.startswith(("refresh", "api"))]  # nothing was asked of Qonto


def test_invalid_grant_means_reconnect_and_leaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeQonto()
    fake.valid_refresh = "something-else"
    client, _ = make(fake)
    with client, pytest.raises(QontoAuthError) as info:
        client.get_organization()
    message = str(info.value)
    assert "invalid_grant" in message and "Reconnect Qonto: run `well qonto connect`" in message
    for secret in ("ory_rt_0", CLIENT_SECRET, "ory_rt_x"):
        assert secret not in message and secret not in caplog.text and secret not in repr(info.value)


@pytest.mark.parametrize("status,body,ctype", [
    (401, b'{"error":"invalid_client"}', "application/json"),
    (400, b"<html>nope</html>", "text/plain"),
    (403, b"", "application/json"),
])
def test_token_errors_of_any_shape(status: int, body: bytes, ctype: str) -> None:
    fake = FakeQonto()
    fake.token_error = (status, body, ctype)
    client, _ = make(fake)
    with client, pytest.raises((QontoAuthError, QontoProtocolError)):
        client.get_organization()


def test_token_endpoint_html_is_the_staging_trap() -> None:
    fake = FakeQonto()
    fake.token_error = (200, b"<!DOCTYPE html><html>login</html>", "text/html")
    client, _ = make(fake)
    with client, pytest.raises(QontoProtocolError) as info:
        client.get_organization()
    assert "X-Qonto-Staging-Token" in str(info.value)


def test_staging_token_reaches_token_endpoint_and_api() -> None:
    fake = FakeQonto()
    client, _ = make(fake, staging=Secret("stg-123"))
    with client:
        client.get_organization()
    assert fake.token_staging == ["stg-123"] and fake.api_staging == ["stg-123"]


def test_concurrent_threads_share_one_refresh() -> None:
    fake = FakeQonto()
    client, auth = make(fake)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.get_organization()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with client:
        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert auth.refresh_count == 1
        # After a server-side expiry, 8 concurrent 401s still cause only one more refresh.
        fake.valid_access = set()
        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert auth.refresh_count == 2


def test_no_stored_refresh_token() -> None:
    fake = FakeQonto()
    client, _ = make(fake, store=InMemoryTokenStore(None))
    with client, pytest.raises(QontoAuthError) as info:
        client.get_organization()
    assert "Connect Qonto" in str(info.value)


def test_authorize_url_and_code_exchange() -> None:
    request = build_authorize_url("https://oauth.qonto.com", "cid", "http://127.0.0.1:8765/callback",
                                  ["supplier_invoice.read", "offline_access"])
    parts = urlsplit(request.url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.path == "/oauth2/auth" and query["response_type"] == "code"
    assert query["scope"] == "supplier_invoice.read offline_access" and query["state"] == request.state
    assert len(request.state) >= 32
    assert build_authorize_url("https://x", "c", "r", "s").state != request.state

    seen: dict[str, str] = {}

    def handler(req: httpx.Request) -> httpx.Response:
        seen.update({k: v[0] for k, v in parse_qs(req.content.decode()).items()})
        return httpx.Response(200, json={"access_token": "ory_at_A", "refresh_token": "ory_rt_A",
                                         "expires_in": 3600})

    store = InMemoryTokenStore()
    tokens = exchange_code(BASE, "cid", CLIENT_SECRET, "ory_ac_code", "http://127.0.0.1:8765/callback",
                           token_store=store, transport=httpx.MockTransport(handler))
    assert seen["grant_type"] == "authorization_code" and seen["code"] == "ory_ac_code"
    assert store.load_refresh_token() == "ory_rt_A"
    assert "ory_at_A" not in repr(tokens)


def test_revoke_posts_refresh_token() -> None:
    fake = FakeQonto()
    client, auth = make(fake)
    with client:
        client.get_organization()
        auth.revoke()
    assert fake.events[-1] == "revoke:ory_rt_1"


def test_api_key_header_is_raw_login_colon_secret() -> None:
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.headers["Authorization"])
        return httpx.Response(200, json={"organization": {}})

    with QontoClient(QontoClientConfig(BASE), ApiKeyAuth("org-login", Secret("k3y")),
                     transport=httpx.MockTransport(handler)) as c:
        c.get_organization()
    assert seen == ["org-login:k3y"]


def test_a_rate_limited_token_call_waits_as_qonto_says_then_gives_up_as_rate_limited() -> None:
    # Several companies' runs behind one IP share Qonto's per-IP window; the token endpoint's 429 says when it frees.
    answers = [httpx.Response(429, headers={"Retry-After": "7"}, json={"errors": [{"code": "too_many_requests"}]}),
               httpx.Response(429, headers={"Retry-After": "3600"}, json={"errors": [{"code": "too_many_requests"}]}),
               httpx.Response(200, json={"ok": True})]
    slept: list[float] = []
    endpoint = _OAuthEndpoint(BASE, staging_token=None, timeout_s=5, verify=True, sleep=slept.append,
                              transport=httpx.MockTransport(lambda request: answers.pop(0)))
    assert endpoint.post_form("/oauth2/token", {"grant_type": "refresh_token"}).status_code == 200
    assert slept == [7.0, _MAX_RETRY_AFTER_S]  # Qonto's hint, capped: not the 0.5 s / 1 s backoff

    refusing = _OAuthEndpoint(BASE, staging_token=None, timeout_s=5, verify=True, sleep=slept.append,
                              transport=httpx.MockTransport(lambda request: httpx.Response(
                                  429, headers={"Retry-After": "2"}, json={"errors": [{"code": "too_many_requests"}]})))
    fake = FakeQonto()
    client, auth = make(fake)
    auth._endpoint = refusing  # the token endpoint keeps refusing (through the same code, the recording sleep)
    with client, pytest.raises(QontoRateLimited) as refused:
        client.get_organization()
    assert refused.value.retry_after_s == 2.0 and refused.value.status == 429
    assert slept[2:] == [2.0, 2.0] and fake.events == []  # two waits as told, then the error; no API call made
