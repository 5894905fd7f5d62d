"""API authentication, scopes and Qonto's error envelope on /v2 (reference §1, §2, §7)."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_headers, bearer, obtain_tokens, running_sandbox

TRACE_RE = re.compile(r"^[0-9a-f]{32}$")


def assert_envelope(response: httpx.Response, status: int) -> dict:
    """Status, JSON content type, errors[0] with code+detail, trace_id equal to X-Tyk-Trace-Id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == {"errors", "trace_id"}
    assert TRACE_RE.match(body["trace_id"])
    assert response.headers["X-Tyk-Trace-Id"] == body["trace_id"]
    error = body["errors"][0]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["detail"], str) and error["detail"]
    return error


def test_api_key_is_raw_login_colon_secret(tmp_path, client):
    write_dataset(tmp_path, [make_invoice()])
    with running_sandbox(tmp_path) as sb:
        url = f"{sb.base_url}/v2/supplier_invoices"
        ok = client.get(url, headers=api_key_headers(sb))
        assert ok.status_code == 200
        assert len(ok.json()["supplier_invoices"]) == 1
        for path in (
            "/v2/organization",
            f"/v2/attachments/{ok.json()['supplier_invoices'][0]['attachment_id']}",
        ):
            assert client.get(sb.base_url + path, headers=api_key_headers(sb)).status_code == 200

        raw = f"{sb.config.api_login}:{sb.config.api_secret}".encode()
        as_basic = client.get(url, headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
        assert_envelope(as_basic, 401)
        as_base64 = client.get(url, headers={"Authorization": base64.b64encode(raw).decode()})
        assert_envelope(as_base64, 401)
        wrong = client.get(url, headers={"Authorization": f"{sb.config.api_login}:wrong"})
        assert_envelope(wrong, 401)


def test_missing_and_unknown_credentials_answer_401_envelope(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        url = f"{sb.base_url}/v2/supplier_invoices"
        first = assert_envelope(client.get(url), 401)
        assert "source" not in first
        assert_envelope(client.get(url, headers=bearer("ory_at_not.a-token")), 401)
        a = client.get(url).json()["trace_id"]
        b = client.get(url).json()["trace_id"]
        assert a != b


@pytest.mark.parametrize(
    ("scope", "path", "expected"),
    [
        ("organization.read", "/v2/supplier_invoices", 403),
        ("supplier_invoice.read", "/v2/supplier_invoices", 200),
        ("supplier_invoice.read", "/v2/organization", 403),
        ("organization.read", "/v2/organization", 200),
        ("supplier_invoice.read", "/v2/attachments/{att}", 403),
        ("attachment.read", "/v2/attachments/{att}", 200),
        ("organization.read", "/v2/attachments/{att}", 200),
    ],
)
def test_scopes(tmp_path, client, scope, path, expected):
    invoice = make_invoice()
    write_dataset(tmp_path, [invoice])
    with running_sandbox(tmp_path) as sb:
        tokens = obtain_tokens(client, sb, scope=scope)
        response = client.get(
            sb.base_url + path.format(att=invoice["attachment_id"]), headers=bearer(tokens["access_token"])
        )
        if expected == 403:
            error = assert_envelope(response, 403)
            assert "missing required oauth scope" in error["detail"].lower()
        else:
            assert response.status_code == 200


def test_consent_revocation_needs_a_bearer_token(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        assert_envelope(client.delete(f"{sb.base_url}/v2/oauth2/consents", headers=api_key_headers(sb)), 403)
        assert_envelope(client.delete(f"{sb.base_url}/v2/oauth2/consents"), 401)


def test_unknown_route_is_404_envelope(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        assert_envelope(client.get(f"{sb.base_url}/v2/nope", headers=api_key_headers(sb)), 404)
        assert_envelope(client.post(f"{sb.base_url}/v2/supplier_invoices", headers=api_key_headers(sb)), 404)


def test_validation_error_points_at_the_parameter(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        response = client.get(
            f"{sb.base_url}/v2/supplier_invoices", params={"per_page": "101"}, headers=api_key_headers(sb)
        )
        error = assert_envelope(response, 422)
        assert error["source"] == {"parameter": "per_page"}
