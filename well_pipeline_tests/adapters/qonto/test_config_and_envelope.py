"""`QontoClientConfig` (validated once, used as given) and `error_envelope` (one reader for the API's and the OAuth
host's error answers)."""

from __future__ import annotations

import httpx
import pytest

from well_pipeline.adapters.qonto import (
    ApiKeyAuth,
    InMemoryTokenStore,
    OAuthCallback,
    OAuthTokenAuth,
    QontoAPIError,
    QontoAuthError,
    QontoClient,
    QontoClientConfig,
    QontoConfigError,
)
from well_pipeline.adapters.qonto.errors import ErrorEnvelope, error_envelope
from well_pipeline.adapters.qonto.rate_limiter import DEFAULT_WINDOWS, RateWindow
from well_pipeline.adapters.secrets import Secret

BASE = "http://127.0.0.1:9"


def test_config_normalises_the_url_and_hides_the_staging_token() -> None:
    config = QontoClientConfig(" https://thirdparty.qonto.com/v2/ ", staging_token="stg-123")  # type: ignore[arg-type]
    assert config.api_url == "https://thirdparty.qonto.com"
    assert isinstance(config.staging_token, Secret) and config.staging_token.reveal() == "stg-123"
    assert "stg-123" not in repr(config)


@pytest.mark.parametrize("changes", [
    {"download_concurrency": 0}, {"page_concurrency": 0}, {"max_retries": -1}, {"request_deadline_s": 0},
    {"requests_per_10s": 0}, {"requests_per_10min": -1},
])
def test_config_refuses_values_that_cannot_work(changes: dict) -> None:
    with pytest.raises(QontoConfigError):
        QontoClientConfig(BASE, **changes)


def test_config_rate_limit_windows() -> None:
    assert QontoClientConfig(BASE).rate_limiter().windows == DEFAULT_WINDOWS
    assert QontoClientConfig(BASE, requests_per_10s=5, requests_per_10min=0).rate_limiter().windows == (
        RateWindow(5, 10.0),)


def test_the_client_uses_its_config() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"organization": {"id": "org-1"}})

    config = QontoClientConfig(f"{BASE}/v2", staging_token=Secret("stg-9"), requests_per_10s=7)
    with QontoClient(config, ApiKeyAuth("org", "k"), transport=httpx.MockTransport(handler)) as client:
        assert client.get_organization() == {"id": "org-1"}
        assert client.api_url == BASE and client.limiter.windows[0] == RateWindow(7, 10.0)
    assert str(seen[0].url) == f"{BASE}/v2/organization" and seen[0].headers["X-Qonto-Staging-Token"] == "stg-9"
    # An OAuth auth without a staging token gets the config's (Qonto's sandbox token endpoint needs it too).
    auth = OAuthTokenAuth(BASE, "cid", "secret", InMemoryTokenStore("rt"))
    QontoClient(config, auth).close()
    assert auth.staging_token is not None and auth.staging_token.reveal() == "stg-9"


def answer(status: int, body: bytes, content_type: str | None = "application/json", **headers: str) -> httpx.Response:
    if content_type:
        headers["content-type"] = content_type
    return httpx.Response(status, content=body, headers=headers)


@pytest.mark.parametrize("response,expected", [
    # The API's envelope, with the parameter a 422 names.
    (answer(422, b'{"errors":[{"code":"not_in_list","detail":"bad status","source":{"parameter":"status"}}]}',
            **{"X-Tyk-Trace-Id": "tr-1"}),
     ErrorEnvelope("not_in_list", "bad status (parameter status)", "tr-1")),
    # The OAuth host's (format UNCONFIRMED): error plus description, hint or message; a body trace_id wins.
    (answer(400, b'{"error":"invalid_grant","error_hint":"expired","trace_id":"tr-body"}', **{"X-Tyk-Trace-Id": "h"}),
     ErrorEnvelope("invalid_grant", "expired", "tr-body")),
    (answer(500, b'{"message":"boom"}'), ErrorEnvelope(None, "boom", None)),
    # JSON under another content type is still read; anything else becomes a short redacted excerpt.
    (answer(401, b'{"error":"invalid_client"}', "text/plain"), ErrorEnvelope("invalid_client", None, None)),
    (answer(502, b"<html>Bad gateway token=abc123</html>", "text/html"),
     ErrorEnvelope(None, "<html>Bad gateway token=***", None)),  # the redaction takes the rest of the word
    (answer(503, b"", None), ErrorEnvelope(None, None, None)),
    (answer(400, b'{"errors":[{"code":7,"detail":null}]}'), ErrorEnvelope(None, '{"errors":[{"code":7,"detail":null}]}',
                                                                          None)),
])
def test_error_envelope_reads_every_shape(response: httpx.Response, expected: ErrorEnvelope) -> None:
    assert error_envelope(response) == expected


def test_the_api_and_the_token_endpoint_read_errors_alike() -> None:
    # Each endpoint answers the *other* one's envelope shape: both still name Qonto's code.
    oauth_shaped = b'{"error":"quota","error_description":"slow down"}'
    api_shaped = b'{"errors":[{"code":"invalid_grant","detail":"refresh token revoked"}]}'

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return answer(400, api_shaped)
        return answer(418, oauth_shaped)

    transport = httpx.MockTransport(handler)
    with QontoClient(QontoClientConfig(BASE, max_retries=0), ApiKeyAuth("org", "k"), transport=transport) as client, \
            pytest.raises(QontoAPIError) as api_error:
        client.get_organization()
    assert (api_error.value.code, api_error.value.detail) == ("quota", "slow down")

    auth = OAuthTokenAuth(BASE, "cid", "secret", InMemoryTokenStore("rt"), transport=transport)
    with QontoClient(QontoClientConfig(BASE), auth, transport=transport) as client, \
            pytest.raises(QontoAuthError) as token_error:
        client.get_organization()
    assert (token_error.value.code, token_error.value.detail) == ("invalid_grant", "refresh token revoked")


def test_the_oauth_callback_listens_on_loopback_only() -> None:
    with pytest.raises(QontoConfigError, match="not a loopback address"):
        OAuthCallback("https://well.example.com/callback")
