"""Secret hiding and the transport policy (TLS 1.3, clear text only on loopback)."""

from __future__ import annotations

import pickle
import ssl

import pytest

from well_pipeline.adapters.qonto import ApiKeyAuth, InMemoryTokenStore, OAuthTokenAuth, QontoClient, QontoClientConfig
from well_pipeline.adapters.qonto.errors import QontoConfigError, redact
from well_pipeline.adapters.qonto.transport import build_ssl_context, is_loopback_host, safe_url
from well_pipeline.adapters.secrets import Secret


def test_secret_repr_hides_value() -> None:
    secret = Secret("ory_rt_supersecret")
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret]), repr({"k": secret})):
        assert "supersecret" not in text
    assert repr(secret) == "Secret('***')"
    assert secret.reveal() == "ory_rt_supersecret"
    assert pickle.loads(pickle.dumps(secret)) == secret
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]


def test_auth_reprs_hide_secrets() -> None:
    api = ApiKeyAuth("org-login", "api-secret-value")
    oauth = OAuthTokenAuth("https://oauth.qonto.com", "cid", "client-secret-value",
                           InMemoryTokenStore("ory_rt_refresh-value"))
    for text in (repr(api), repr(oauth), repr(oauth._endpoint.__dict__)):
        assert "api-secret-value" not in text and "client-secret-value" not in text
        assert "refresh-value" not in text


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "[::1]"])
def test_http_allowed_for_loopback(host: str) -> None:
    assert is_loopback_host(host.strip("[]"))
    QontoClient(QontoClientConfig(f"http://{host}:8080"), ApiKeyAuth("l", "s")).close()


@pytest.mark.parametrize("url", ["http://thirdparty.qonto.com", "http://10.0.0.5:8080", "http://localhost.evil.com",
                                 "ftp://127.0.0.1"])
def test_http_to_non_loopback_refused_at_construction(url: str) -> None:
    with pytest.raises(QontoConfigError) as info:
        QontoClient(QontoClientConfig(url), ApiKeyAuth("l", "s"))
    assert "http" in str(info.value)


def test_oauth_http_to_remote_refused() -> None:
    with pytest.raises(QontoConfigError):
        OAuthTokenAuth("http://oauth.qonto.com", "cid", "secret", InMemoryTokenStore("x"))


def test_https_contexts_require_tls13() -> None:
    context = build_ssl_context("https://thirdparty.qonto.com", True)
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    custom = ssl.create_default_context()
    custom.minimum_version = ssl.TLSVersion.TLSv1_2
    assert build_ssl_context("https://thirdparty.qonto.com", custom).minimum_version == ssl.TLSVersion.TLSv1_3


def test_unverified_tls_only_on_loopback() -> None:
    with pytest.raises(QontoConfigError):
        build_ssl_context("https://thirdparty.qonto.com", False)
    context = build_ssl_context("https://127.0.0.1:8443", False)
    assert isinstance(context, ssl.SSLContext) and context.minimum_version == ssl.TLSVersion.TLSv1_3


def test_safe_url_and_redact() -> None:
    url = "https://s3.example.com/bucket/file.pdf?X-Amz-Signature=abcd&X-Amz-Credential=AKIA&expires=1&page=2"
    logged = safe_url(url)
    assert "abcd" not in logged and "AKIA" not in logged and "page=2" in logged
    text = redact('{"access_token": "ory_at_XYZ", "refresh_token":"abc"} Authorization: Bearer qqq')
    assert "XYZ" not in text and "abc" not in text and "qqq" not in text
