"""OAuth host: code flow, token contents, rotation with grace, revocation (reference §2)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import httpx

from well_pipeline.sandbox.qonto import ManualClock
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import (
    REDIRECT_URI,
    authorization_code,
    authorize,
    bearer,
    obtain_tokens,
    running_sandbox,
    token_request,
)


def _api_status(client: httpx.Client, base_url: str, token: str) -> int:
    return client.get(f"{base_url}/v2/supplier_invoices", headers=bearer(token)).status_code


def test_code_flow_returns_ory_tokens_with_requested_scopes(tmp_path, client, clock):
    write_dataset(tmp_path, [make_invoice()])
    with running_sandbox(tmp_path, clock=clock, access_token_ttl_s=1234) as sb:
        response = authorize(client, sb, state="csrf-state-42")
        assert response.status_code == 302
        location = httpx.URL(response.headers["Location"])
        assert str(location).startswith(REDIRECT_URI + "?")
        assert location.params["state"] == "csrf-state-42"
        assert location.params["code"].startswith("ory_ac_")

        tokens = token_request(
            client,
            sb,
            grant_type="authorization_code",
            code=location.params["code"],
            redirect_uri=REDIRECT_URI,
        ).json()
        assert tokens["access_token"].startswith("ory_at_")
        assert tokens["refresh_token"].startswith("ory_rt_")
        assert tokens["expires_in"] == 1234
        assert tokens["token_type"] == "bearer"
        assert set(tokens["scope"].split()) == {
            "offline_access",
            "openid",
            "supplier_invoice.read",
            "attachment.read",
            "organization.read",
        }
        header_b64, claims_b64, _ = tokens["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=="))
        assert claims["aud"] == [sb.config.client_id]
        assert claims["iss"] == sb.base_url
        assert claims["exp"] - claims["iat"] == 1234
        assert json.loads(base64.urlsafe_b64decode(header_b64 + "=="))["alg"] == "RS256"
        assert _api_status(client, sb.base_url, tokens["access_token"]) == 200


def test_refresh_token_only_with_offline_access_and_id_token_only_with_openid(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        tokens = obtain_tokens(client, sb, scope="supplier_invoice.read")
        assert "refresh_token" not in tokens
        assert "id_token" not in tokens
        assert tokens["scope"] == "supplier_invoice.read"


def test_code_is_single_use_and_replay_revokes_its_tokens(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        code = authorization_code(client, sb)
        first = token_request(
            client, sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
        )
        assert first.status_code == 200
        replay = token_request(
            client, sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
        )
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        assert "error_description" in replay.json()
        # RFC 6749 §4.1.2: tokens issued from a replayed code are revoked.
        assert _api_status(client, sb.base_url, first.json()["access_token"]) == 401
        refresh = token_request(
            client, sb, grant_type="refresh_token", refresh_token=first.json()["refresh_token"]
        )
        assert refresh.json()["error"] == "invalid_grant"


def test_code_expires_and_is_bound_to_redirect_uri_and_client(tmp_path, client, clock: ManualClock):
    with running_sandbox(tmp_path, clock=clock, code_ttl_s=600) as sb:
        code = authorization_code(client, sb)
        wrong_uri = token_request(
            client, sb, grant_type="authorization_code", code=code, redirect_uri="http://127.0.0.1:1/other"
        )
        assert (wrong_uri.status_code, wrong_uri.json()["error"]) == (400, "invalid_grant")

        stale = authorization_code(client, sb)
        clock.advance(600)
        expired = token_request(
            client, sb, grant_type="authorization_code", code=stale, redirect_uri=REDIRECT_URI
        )
        assert (expired.status_code, expired.json()["error"]) == (400, "invalid_grant")

        fresh = authorization_code(client, sb)
        clock.advance(599)
        ok = token_request(client, sb, grant_type="authorization_code", code=fresh, redirect_uri=REDIRECT_URI)
        assert ok.status_code == 200


def test_client_must_authenticate_in_the_body(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        code = authorization_code(client, sb)
        basic_only = client.post(
            f"{sb.base_url}/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            auth=(sb.config.client_id, sb.config.client_secret),
        )
        assert basic_only.status_code == 401
        assert basic_only.json()["error"] == "invalid_client"
        wrong_secret = client.post(
            f"{sb.base_url}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": sb.config.client_id,
                "client_secret": "nope",
            },
        )
        assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
        as_json = client.post(
            f"{sb.base_url}/oauth2/token",
            json={"grant_type": "authorization_code", "client_id": sb.config.client_id},
        )
        assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
        unsupported = token_request(client, sb, grant_type="client_credentials")
        assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")
        # The code was never consumed by the failed attempts.
        ok = token_request(client, sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
        assert ok.status_code == 200


def test_authorize_validation(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        bad_client = client.get(
            f"{sb.base_url}/oauth2/auth",
            params={
                "client_id": "someone-else",
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "scope": "supplier_invoice.read",
                "state": "state-0123456789",
            },
        )
        assert (bad_client.status_code, bad_client.json()["error"]) == (400, "invalid_client")

        def error_of(response: httpx.Response) -> str:
            assert response.status_code == 302
            return httpx.URL(response.headers["Location"]).params["error"]

        assert error_of(authorize(client, sb, response_type="token")) == "unsupported_response_type"
        assert error_of(authorize(client, sb, state="")) == "invalid_state"
        assert error_of(authorize(client, sb, scope="supplier_invoices.read")) == "invalid_scope"
        with_org = authorize(client, sb, organization_id="0b7c6a1e-5d2f-4f7e-9a51-3c2d1e0f9a10")
        assert "code" in httpx.URL(with_org.headers["Location"]).params


def test_pkce_is_optional_but_enforced_when_used(tmp_path, client):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    with running_sandbox(tmp_path) as sb:
        code = authorization_code(client, sb, code_challenge=challenge, code_challenge_method="S256")
        missing = token_request(
            client, sb, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
        )
        assert missing.json()["error"] == "invalid_grant"
        code = authorization_code(client, sb, code_challenge=challenge, code_challenge_method="S256")
        ok = token_request(
            client,
            sb,
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT_URI,
            code_verifier=verifier,
        )
        assert ok.status_code == 200


def test_refresh_rotates_with_grace_period(tmp_path, client, clock: ManualClock):
    with running_sandbox(tmp_path, clock=clock, refresh_grace_s=60) as sb:
        first = obtain_tokens(client, sb)
        rotated = token_request(client, sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert rotated.status_code == 200
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert _api_status(client, sb.base_url, second["access_token"]) == 200

        clock.advance(59)  # still inside the grace period of the first use
        again = token_request(client, sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert again.status_code == 200

        clock.advance(2)  # 61 s after the first use
        late = token_request(client, sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert (late.status_code, late.json()["error"]) == (400, "invalid_grant")


def test_refresh_replay_after_grace_revokes_the_family_unless_disabled(tmp_path, client, clock: ManualClock):
    with running_sandbox(tmp_path, clock=clock, refresh_grace_s=1) as sb:
        first = obtain_tokens(client, sb)
        second = token_request(
            client, sb, grant_type="refresh_token", refresh_token=first["refresh_token"]
        ).json()
        clock.advance(5)
        token_request(client, sb, grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert _api_status(client, sb.base_url, second["access_token"]) == 401
        assert (
            token_request(
                client, sb, grant_type="refresh_token", refresh_token=second["refresh_token"]
            ).status_code
            == 400
        )
    with running_sandbox(
        tmp_path, clock=clock, refresh_grace_s=1, revoke_family_on_refresh_reuse=False
    ) as sb:
        first = obtain_tokens(client, sb)
        second = token_request(
            client, sb, grant_type="refresh_token", refresh_token=first["refresh_token"]
        ).json()
        clock.advance(5)
        assert (
            token_request(
                client, sb, grant_type="refresh_token", refresh_token=first["refresh_token"]
            ).status_code
            == 400
        )
        assert (
            token_request(
                client, sb, grant_type="refresh_token", refresh_token=second["refresh_token"]
            ).status_code
            == 200
        )


def test_access_tokens_expire_by_ttl_and_by_control_endpoint(tmp_path, client, clock: ManualClock):
    with running_sandbox(tmp_path, clock=clock, access_token_ttl_s=3600) as sb:
        tokens = obtain_tokens(client, sb)
        clock.advance(3599)
        assert _api_status(client, sb.base_url, tokens["access_token"]) == 200
        clock.advance(1)
        expired = client.get(f"{sb.base_url}/v2/supplier_invoices", headers=bearer(tokens["access_token"]))
        assert expired.status_code == 401
        assert expired.json()["errors"][0]["code"] == "unauthorized"

        fresh = token_request(
            client, sb, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        ).json()
        assert _api_status(client, sb.base_url, fresh["access_token"]) == 200
        assert client.post(f"{sb.base_url}/_sandbox/tokens/expire").json() == {"expired": 1}
        assert _api_status(client, sb.base_url, fresh["access_token"]) == 401
        newest = obtain_tokens(client, sb)
        assert sb.expire_access_tokens() == 1
        assert _api_status(client, sb.base_url, newest["access_token"]) == 401


def test_revoke_endpoint(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        tokens = obtain_tokens(client, sb)
        other = obtain_tokens(client, sb)
        form = {"client_id": sb.config.client_id, "client_secret": sb.config.client_secret}
        unauthenticated = client.post(f"{sb.base_url}/oauth2/revoke", data={"token": tokens["refresh_token"]})
        assert unauthenticated.status_code == 401
        revoked = client.post(f"{sb.base_url}/oauth2/revoke", data={**form, "token": tokens["refresh_token"]})
        assert revoked.status_code == 200
        assert _api_status(client, sb.base_url, tokens["access_token"]) == 401
        refresh = token_request(client, sb, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert refresh.json()["error"] == "invalid_grant"
        # Another grant of the same client is untouched; unknown tokens answer 200 (RFC 7009).
        assert _api_status(client, sb.base_url, other["access_token"]) == 200
        assert (
            client.post(f"{sb.base_url}/oauth2/revoke", data={**form, "token": "ory_rt_unknown"}).status_code
            == 200
        )
        # Revoking an access token revokes only that token.
        client.post(f"{sb.base_url}/oauth2/revoke", data={**form, "token": other["access_token"]})
        assert _api_status(client, sb.base_url, other["access_token"]) == 401
        assert (
            token_request(
                client, sb, grant_type="refresh_token", refresh_token=other["refresh_token"]
            ).status_code
            == 200
        )


def test_delete_consent_revokes_the_grant(tmp_path, client):
    with running_sandbox(tmp_path) as sb:
        tokens = obtain_tokens(client, sb, scope="offline_access supplier_invoice.read")
        response = client.delete(f"{sb.base_url}/v2/oauth2/consents", headers=bearer(tokens["access_token"]))
        assert response.status_code == 204
        assert response.content == b""
        assert _api_status(client, sb.base_url, tokens["access_token"]) == 401
        refresh = token_request(client, sb, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert refresh.json()["error"] == "invalid_grant"
        again = client.delete(f"{sb.base_url}/v2/oauth2/consents", headers=bearer(tokens["access_token"]))
        assert again.status_code == 401
