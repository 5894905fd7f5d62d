"""One sandbox, three organisations: each credential sees exactly its own organisation's records.

Three small generated datasets (different seeds, so different organisation and record ids) served by one real
server on loopback; every check goes over HTTP with the organisation's own (or another's) credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from well_pipeline.sandbox.generator import generate_dataset
from well_pipeline.sandbox.qonto import ManualClock, OrgConfig, QontoSandbox, SandboxConfig
from well_pipeline_tests.support.qonto_sandbox import (
    api_key_headers,
    authorization_code,
    bearer,
    obtain_tokens,
    running_sandbox,
    token_request,
)

DEMO = "well-demo-org"
ORGS = (DEMO, "acme", "globex")


@dataclass(frozen=True)
class OrgData:
    """What one organisation's dataset holds, read from its files (not from the sandbox)."""

    directory: Path
    organization_id: str
    invoice_ids: frozenset[str]
    attachment_ids: tuple[str, ...]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, OrgData]:
    """Three 20-invoice datasets with different seeds (about 0.1 s in all)."""
    out = {}
    for seed, name in enumerate(ORGS, start=21):
        root = tmp_path_factory.mktemp(f"org-{name}")
        generate_dataset(root, invoices=20, vendors=8, years=1.0, seed=seed, now=datetime(2026, 5, 1, tzinfo=UTC))
        records = [json.loads(line) for line in (root / "qonto" / "invoices.jsonl").read_text().splitlines() if line]
        organization = json.loads((root / "qonto" / "organization.json").read_text())["organization"]
        out[name] = OrgData(root, organization["id"], frozenset(r["id"] for r in records),
                            tuple(r["attachment_id"] for r in records if r.get("attachment_id")))
    return out


def three_org_config(datasets: dict[str, OrgData], **overrides: object) -> dict[str, object]:
    """running_sandbox keywords for the default organisation plus acme and globex."""
    return {"organizations": tuple(OrgConfig(name, datasets[name].directory) for name in ORGS[1:]), **overrides}


@pytest.fixture
def sandbox(datasets: dict[str, OrgData], clock: ManualClock) -> Iterator[QontoSandbox]:
    """The three organisations on one server (time pinned, so every generated record is exposed)."""
    with running_sandbox(datasets[DEMO].directory, clock=clock, **three_org_config(datasets)) as sb:
        yield sb


def listed_ids(client: httpx.Client, sb: QontoSandbox, headers: dict[str, str]) -> list[str]:
    """Every supplier invoice id the credential lists, across all pages."""
    ids: list[str] = []
    page: int | None = 1
    while page is not None:
        response = client.get(f"{sb.base_url}/v2/supplier_invoices", headers=headers,
                              params={"page": page, "per_page": 7})
        assert response.status_code == 200, response.text
        ids += [record["id"] for record in response.json()["supplier_invoices"]]
        page = response.json()["meta"]["next_page"]
    return ids


def test_each_organisations_credentials_list_exactly_its_own_records(sandbox, datasets, client):
    seen: dict[str, set[str]] = {}
    for name in ORGS:
        tokens = obtain_tokens(client, sandbox, org=name)
        for headers in (api_key_headers(sandbox, name), bearer(tokens["access_token"])):
            ids = listed_ids(client, sandbox, headers)
            assert len(ids) == len(set(ids)) == 20
            assert set(ids) == datasets[name].invoice_ids
            organization = client.get(f"{sandbox.base_url}/v2/organization", headers=headers).json()
            assert organization["organization"]["id"] == datasets[name].organization_id
        seen[name] = set(ids)
    assert not seen[DEMO] & seen["acme"] and not seen[DEMO] & seen["globex"] and not seen["acme"] & seen["globex"]


def test_credentials_are_the_documented_ones_and_the_default_keeps_todays(sandbox, datasets):
    assert list(sandbox.organizations) == list(ORGS)
    default = sandbox.organization()
    assert (default.name, default.client_id, default.client_secret, default.api_login, default.api_secret) == (
        DEMO, "well-sandbox-client", "well-sandbox-client-secret", "well-demo-org", "well-sandbox-api-secret")
    acme = sandbox.organization("acme")
    assert (acme.client_id, acme.client_secret, acme.api_login, acme.api_secret) == (
        "well-sandbox-client-acme", "well-sandbox-client-secret-acme", "acme", "well-sandbox-api-secret-acme")
    assert acme.data_dir == datasets["acme"].directory
    assert "secret" not in repr(acme).replace("client_secret", "").replace("api_secret", "")
    with pytest.raises(KeyError, match="acme"):
        sandbox.organization("initech")


def test_another_organisations_invoice_and_attachment_answer_not_found(sandbox, datasets, client):
    acme = api_key_headers(sandbox, "acme")
    foreign_invoice = sorted(datasets["globex"].invoice_ids)[0]
    own_invoice = sorted(datasets["acme"].invoice_ids)[0]
    assert client.get(f"{sandbox.base_url}/v2/supplier_invoices/{own_invoice}", headers=acme).status_code == 200
    response = client.get(f"{sandbox.base_url}/v2/supplier_invoices/{foreign_invoice}", headers=acme)
    assert response.status_code == 404 and response.json()["errors"][0]["code"] == "not_found"
    foreign_attachment = datasets["globex"].attachment_ids[0]
    response = client.get(f"{sandbox.base_url}/v2/attachments/{foreign_attachment}", headers=acme)
    assert response.status_code == 404 and response.json()["errors"][0]["code"] == "not_found"
    # The same ids under their own organisation's key exist: the 404s above are isolation, not absence.
    globex = api_key_headers(sandbox, "globex")
    assert client.get(f"{sandbox.base_url}/v2/supplier_invoices/{foreign_invoice}", headers=globex).status_code == 200


def test_a_download_url_serves_its_own_organisations_file_only(sandbox, datasets, client):
    headers = api_key_headers(sandbox, "acme")
    for attachment_id in datasets["acme"].attachment_ids:
        meta = client.get(f"{sandbox.base_url}/v2/attachments/{attachment_id}", headers=headers)
        if meta.status_code == 200:
            break
    else:
        pytest.fail("no acme attachment is served")
    url = httpx.URL(meta.json()["attachment"]["url"])
    assert url.params["org"] == "acme"
    download = client.get(url)
    own_file = next((datasets["acme"].directory / "qonto" / "attachments").glob(f"{attachment_id}.*"))
    assert download.status_code == 200 and download.content == own_file.read_bytes()
    for forged in (url.copy_set_param("org", "globex"), url.copy_remove_param("org"),
                   url.copy_set_param("org", DEMO)):
        refused = client.get(forged)
        assert refused.status_code == 403 and b"AccessDenied" in refused.content, forged
    # The default organisation's URLs carry no org parameter (unchanged from the single-organisation sandbox).
    demo_meta = client.get(f"{sandbox.base_url}/v2/attachments/{datasets[DEMO].attachment_ids[0]}",
                           headers=api_key_headers(sandbox))
    assert demo_meta.status_code == 200 and "org=" not in demo_meta.json()["attachment"]["url"]


def test_codes_refresh_tokens_and_secrets_do_not_cross_organisations(sandbox, client):
    # An acme code exchanged by globex's client.
    code = authorization_code(client, sandbox, org="acme")
    crossed = token_request(client, sandbox, org="globex", grant_type="authorization_code", code=code,
                            redirect_uri="http://127.0.0.1:8765/oauth/callback")
    assert crossed.status_code == 400 and crossed.json()["error"] == "invalid_grant"
    # An acme refresh token presented by globex's client.
    acme_tokens = obtain_tokens(client, sandbox, org="acme")
    crossed = token_request(client, sandbox, org="globex", grant_type="refresh_token",
                            refresh_token=acme_tokens["refresh_token"])
    assert crossed.status_code == 400 and crossed.json()["error"] == "invalid_grant"
    # acme's client id with globex's secret; acme's API login with globex's API secret.
    mixed = client.post(f"{sandbox.base_url}/oauth2/token", data={
        "client_id": sandbox.organization("acme").client_id,
        "client_secret": sandbox.organization("globex").client_secret,
        "grant_type": "refresh_token", "refresh_token": acme_tokens["refresh_token"]})
    assert mixed.status_code == 401 and mixed.json()["error"] == "invalid_client"
    key = f"{sandbox.organization('acme').api_login}:{sandbox.organization('globex').api_secret}"
    assert client.get(f"{sandbox.base_url}/v2/supplier_invoices", headers={"Authorization": key}).status_code == 401
    # globex's client cannot revoke acme's refresh token (RFC 7009: 200, nothing revoked).
    revoke = client.post(f"{sandbox.base_url}/oauth2/revoke", data={
        "client_id": sandbox.organization("globex").client_id,
        "client_secret": sandbox.organization("globex").client_secret,
        "token": acme_tokens["refresh_token"]})
    assert revoke.status_code == 200
    refreshed = token_request(client, sandbox, org="acme", grant_type="refresh_token",
                              refresh_token=acme_tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text


def test_an_unknown_client_is_refused_and_authorize_approves_for_the_clients_organisation(sandbox, datasets, client):
    unknown = client.get(f"{sandbox.base_url}/oauth2/auth", follow_redirects=False, params={
        "client_id": "well-sandbox-client-initech", "redirect_uri": "http://127.0.0.1/cb",
        "response_type": "code", "scope": "supplier_invoice.read", "state": "state-0123456789"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client"
    # What `well qonto connect --sandbox-approve` does with globex's client id: the consent is globex's.
    tokens = obtain_tokens(client, sandbox, org="globex")
    assert set(listed_ids(client, sandbox, bearer(tokens["access_token"]))) == datasets["globex"].invoice_ids


def test_revoking_one_organisations_consent_leaves_the_others_connected(sandbox, datasets, client):
    tokens = {name: obtain_tokens(client, sandbox, org=name) for name in ORGS}
    revoked = client.delete(f"{sandbox.base_url}/v2/oauth2/consents", headers=bearer(tokens["acme"]["access_token"]))
    assert revoked.status_code == 204
    gone = client.get(f"{sandbox.base_url}/v2/supplier_invoices", headers=bearer(tokens["acme"]["access_token"]))
    assert gone.status_code == 401
    refresh = token_request(client, sandbox, org="acme", grant_type="refresh_token",
                            refresh_token=tokens["acme"]["refresh_token"])
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    for name in (DEMO, "globex"):
        assert set(listed_ids(client, sandbox, bearer(tokens[name]["access_token"]))) == datasets[name].invoice_ids
        again = token_request(client, sandbox, org=name, grant_type="refresh_token",
                              refresh_token=tokens[name]["refresh_token"])
        assert again.status_code == 200, again.text


def test_stats_are_counted_per_organisation_and_globally(sandbox, client):
    sandbox.reset_stats()
    for _ in range(3):
        client.get(f"{sandbox.base_url}/v2/organization", headers=api_key_headers(sandbox, "acme"))
    client.get(f"{sandbox.base_url}/v2/organization", headers=api_key_headers(sandbox, "globex"))
    assert sandbox.stats("acme")["api_requests"] == 3
    assert sandbox.stats("globex")["api_requests"] == 1
    assert sandbox.stats(DEMO)["api_requests"] == 0
    overall = sandbox.stats()
    assert overall["api_requests"] == 4
    assert {name: counts["api_requests"] for name, counts in overall["by_organization"].items()} == {
        DEMO: 0, "acme": 3, "globex": 1}
    over_http = client.get(f"{sandbox.base_url}/_sandbox/stats", params={"org": "acme"}).json()
    assert over_http["api_requests"] == 3 and over_http["by_path"] == {"/v2/organization": 3}
    assert client.get(f"{sandbox.base_url}/_sandbox/stats", params={"org": "initech"}).status_code == 404
    client.delete(f"{sandbox.base_url}/_sandbox/stats", params={"org": "acme"})
    assert sandbox.stats("acme")["api_requests"] == 0 and sandbox.stats("globex")["api_requests"] == 1


def test_a_fault_scoped_to_one_organisation_spares_the_others(sandbox, client):
    armed = client.post(f"{sandbox.base_url}/_sandbox/faults", params={"org": "globex"},
                        json={"path_prefix": "/v2/", "kind": "status", "status": 503, "times": None})
    assert armed.status_code == 201 and armed.json()["fault"]["org"] == "globex"
    sandbox.add_fault("/v2/organization", kind="status", status=500, times=None, org="acme")
    url = f"{sandbox.base_url}/v2/organization"
    assert client.get(url, headers=api_key_headers(sandbox, "globex")).status_code == 503
    assert client.get(url, headers=api_key_headers(sandbox, "acme")).status_code == 500
    assert client.get(url, headers=api_key_headers(sandbox)).status_code == 200
    assert [fault["org"] for fault in sandbox.faults("globex")] == ["globex"]
    sandbox.clear_faults("globex")
    assert client.get(url, headers=api_key_headers(sandbox, "globex")).status_code == 200
    assert client.get(url, headers=api_key_headers(sandbox, "acme")).status_code == 500
    with pytest.raises(ValueError, match="initech"):
        sandbox.add_fault("/v2/", kind="status", status=500, org="initech")


@pytest.mark.parametrize("per_organization", [False, True])
def test_rate_limit_is_shared_per_ip_unless_per_organisation(datasets, clock, client, per_organization):
    config = three_org_config(datasets, rate_limit_requests=2, long_rate_limit_requests=0,
                              rate_limit_per_organization=per_organization)
    with running_sandbox(datasets[DEMO].directory, clock=clock, **config) as sb:
        url = f"{sb.base_url}/v2/organization"
        statuses = [client.get(url, headers=api_key_headers(sb, name)).status_code
                    for name in ("acme", "acme", "globex")]
        # Qonto counts per client IP (reference §7): globex's first call is the IP's third.
        assert statuses == ([200, 200, 200] if per_organization else [200, 200, 429])
        assert client.get(url, headers=api_key_headers(sb, "acme")).status_code == 429
        assert sb.stats("acme")["rate_limited"] == 1
        assert sb.stats("globex")["rate_limited"] == (0 if per_organization else 1)


def test_reload_and_token_expiry_take_an_organisation(sandbox, datasets, client):
    reloaded = client.post(f"{sandbox.base_url}/_sandbox/reload", params={"org": "globex"}).json()
    assert reloaded["invoices"] == 20 and reloaded["organizations"] == {"globex": 20}
    assert sandbox.reload("acme") == 20
    tokens = {name: sandbox.issue_tokens(org=name) for name in ("acme", "globex")}
    assert client.post(f"{sandbox.base_url}/_sandbox/tokens/expire", params={"org": "acme"}).json() == {"expired": 1}
    expired = client.get(f"{sandbox.base_url}/v2/organization", headers=bearer(tokens["acme"]["access_token"]))
    assert expired.status_code == 401
    live = client.get(f"{sandbox.base_url}/v2/organization", headers=bearer(tokens["globex"]["access_token"]))
    assert live.status_code == 200 and live.json()["organization"]["id"] == datasets["globex"].organization_id


def test_organisations_that_cannot_be_told_apart_are_refused(tmp_path):
    with pytest.raises(ValueError, match="lower-case"):
        OrgConfig("Acme Corp", tmp_path / "a")
    with pytest.raises(ValueError, match="used twice"):
        SandboxConfig(organizations=(OrgConfig("acme", tmp_path / "a"), OrgConfig("acme", tmp_path / "b")))
    with pytest.raises(ValueError, match="used twice"):
        SandboxConfig(organizations=(OrgConfig("well-demo-org", tmp_path / "a"),))
    with pytest.raises(ValueError, match="client_id used twice"):
        SandboxConfig(organizations=(OrgConfig("acme", tmp_path / "a", client_id="well-sandbox-client"),))
    with pytest.raises(ValueError, match="own dataset directory"):
        SandboxConfig(organizations=(OrgConfig("acme", tmp_path / "a"), OrgConfig("globex", tmp_path / "a")))
    with pytest.raises(ValueError, match="own dataset directory"):
        QontoSandbox(tmp_path / "a", SandboxConfig(organizations=(OrgConfig("acme", tmp_path / "a"),)))
