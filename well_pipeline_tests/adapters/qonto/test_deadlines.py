"""Every call to Qonto ends by its overall deadline (deadline.py), whichever phase the server trickles.

Real sandbox, real sockets: the sandbox's `slow_body` fault trickles responses; its `slow_bodies_cut` counter
says the client hung up before the end (so the deadline cut the call, the call did not simply finish). No test
measures time: the old client read every trickle to the end and succeeded, which these assertions refuse.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from well_pipeline.adapters.qonto import (
    AttachmentDownload,
    AttachmentFailure,
    InMemoryTokenStore,
    OAuthTokenAuth,
    QontoClient,
    QontoClientConfig,
    QontoTimeoutError,
)
from well_pipeline.adapters.qonto.deadline import current_deadline, deadline_scope
from well_pipeline.adapters.secrets import Secret
from well_pipeline.sandbox.qonto import QontoSandbox
from well_pipeline.sandbox.tls import generate_self_signed
from well_pipeline_tests.fault_matrix import FaultOutcome
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_client, fast_limiter, running_sandbox, wait_for_stats

LIST_PATH = "/v2/supplier_invoices"
DEADLINE_S = 0.3
RETRIES = 2
ATTEMPTS = RETRIES + 1
DOCUMENT = b"%PDF-1.4\n" + bytes(range(256)) * 80  # 20 KB: seconds at the trickle rates below


def deadline_client(sb: QontoSandbox, **kw) -> QontoClient:
    return api_key_client(sb, request_deadline_s=DEADLINE_S, max_retries=RETRIES, **kw)


def oauth_deadline_client(sb: QontoSandbox, *, api_deadline_s: float, token_deadline_s: float,
                          verify: object = True) -> QontoClient:
    store = InMemoryTokenStore(sb.issue_tokens()["refresh_token"])
    auth = OAuthTokenAuth(sb.base_url, sb.config.client_id, Secret(sb.config.client_secret), store,
                          deadline_s=token_deadline_s, verify=verify)
    config = QontoClientConfig(sb.base_url, request_deadline_s=api_deadline_s, max_retries=RETRIES,
                               backoff_base_s=0.01, backoff_max_s=0.05, verify=verify)  # type: ignore[arg-type]
    return QontoClient(config, auth, limiter=fast_limiter())


def cut(sb: QontoSandbox, count: int) -> dict:
    """Wait until the sandbox noticed `count` trickled responses cut short (it notices at its next write)."""
    return wait_for_stats(sb, lambda s: s["slow_bodies_cut"] >= count, f"{count} trickles cut by the client")


# ---- the deadline scope ---------------------------------------------------------------------------------------

def test_nested_deadlines_keep_the_earlier_one() -> None:
    assert current_deadline() is None
    with deadline_scope(60) as outer:
        assert current_deadline() is outer
        with deadline_scope(600) as inner:
            assert inner is outer  # a longer inner budget cannot extend the enclosing call
        with deadline_scope(0.5) as inner:
            assert inner is not outer and inner is not None and inner.seconds == 0.5
        with deadline_scope(None) as inner:
            assert inner is outer
        assert current_deadline() is outer
    assert current_deadline() is None


# ---- list pages -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("include_headers", "rate_bps", "records"), [
    pytest.param(False, 1000, 5, id="body", marks=pytest.mark.fault(
        scenario="Qonto list page body trickled at 1,000 bytes/s",
        expected="each attempt cut at the request deadline, retried, then QontoTimeoutError naming the path")),
    pytest.param(True, 100, 1, id="headers", marks=pytest.mark.fault(
        scenario="Qonto list page status line and headers trickled at 100 bytes/s (slow-loris)",
        expected="cut at the request deadline before the headers end, retried, then QontoTimeoutError")),
])
def test_slow_list_page_ends_at_the_deadline(tmp_path: Path, include_headers: bool, rate_bps: int, records: int,
                                             fault_outcome: FaultOutcome) -> None:
    write_dataset(tmp_path, [make_invoice() for _ in range(records)], with_default_attachments=False)
    with running_sandbox(tmp_path) as sb, deadline_client(sb) as client:
        sb.add_fault(LIST_PATH, kind="slow_body", times=None, rate_bps=rate_bps, include_headers=include_headers)
        started = time.monotonic()
        with pytest.raises(QontoTimeoutError) as info:
            list(client.iter_supplier_invoices())
        elapsed = time.monotonic() - started
        stats = cut(sb, ATTEMPTS)
    error = info.value
    assert f"GET {LIST_PATH} page=1" in str(error) and f"{DEADLINE_S:g} s deadline" in str(error)
    assert "qonto_request_deadline_s" in str(error)
    assert error.path == LIST_PATH and error.attempts == ATTEMPTS and error.deadline_s == DEADLINE_S
    assert stats["by_path"][LIST_PATH] == ATTEMPTS and stats["slow_bodies_finished"] == 0
    assert client.stats.deadline_hits == ATTEMPTS and client.stats.retries == RETRIES
    fault_outcome.record(observed=f"QontoTimeoutError after {ATTEMPTS} attempts of {DEADLINE_S} s "
                                  f"({elapsed:.1f} s in all); the sandbox saw all {ATTEMPTS} trickles cut")


@pytest.mark.fault(scenario="Qonto list page trickled over TLS 1.3",
                   expected="the deadline holds on TLS connections too: QontoTimeoutError")
def test_slow_list_page_over_tls_ends_at_the_deadline(tmp_path: Path, fault_outcome: FaultOutcome) -> None:
    write_dataset(tmp_path / "data", [make_invoice() for _ in range(5)], with_default_attachments=False)
    cert, key = generate_self_signed(tmp_path / "tls")
    with running_sandbox(tmp_path / "data", tls_cert=cert, tls_key=key) as sb, \
            deadline_client(sb, verify=str(cert)) as client:
        sb.add_fault(LIST_PATH, kind="slow_body", times=None, rate_bps=1000)
        with pytest.raises(QontoTimeoutError):
            list(client.iter_supplier_invoices())
        stats = cut(sb, ATTEMPTS)
    assert stats["by_path"][LIST_PATH] == ATTEMPTS and stats["slow_bodies_finished"] == 0
    fault_outcome.record(observed=f"QontoTimeoutError after {ATTEMPTS} attempts; {ATTEMPTS} trickles cut")


def test_a_slow_first_attempt_is_retried_and_the_listing_completes(tmp_path: Path) -> None:
    records = [make_invoice() for _ in range(5)]
    write_dataset(tmp_path, records, with_default_attachments=False)
    with running_sandbox(tmp_path) as sb, deadline_client(sb) as client:
        sb.add_fault(LIST_PATH, kind="slow_body", times=1, rate_bps=1000)
        assert sorted(r.id for r in client.iter_supplier_invoices()) == sorted(r["id"] for r in records)
        cut(sb, 1)
    assert client.stats.deadline_hits == 1 and client.stats.retries == 1


# ---- attachments ----------------------------------------------------------------------------------------------

@pytest.mark.fault(scenario="Attachment download trickled at 2,000 bytes/s",
                   expected="each attempt cut at the deadline; AttachmentFailure(deadline_hit) naming the file path, "
                            "no signature in the message")
def test_slow_attachment_download_ends_at_the_deadline(tmp_path: Path, fault_outcome: FaultOutcome) -> None:
    record = make_invoice()
    write_dataset(tmp_path, [record], {record["attachment_id"]: DOCUMENT})
    with running_sandbox(tmp_path) as sb, deadline_client(sb) as client:
        sb.add_fault("/_files/", kind="slow_body", times=None, rate_bps=2000)
        (result,) = list(client.fetch_attachments([record["attachment_id"]]))
        stats = cut(sb, ATTEMPTS)
    assert isinstance(result, AttachmentFailure) and result.deadline_hit
    assert f"/_files/{record['attachment_id']}" in result.reason and f"{DEADLINE_S:g} s deadline" in result.reason
    assert "signature" not in result.reason and "expires" not in result.reason and "?" not in result.reason
    assert stats["by_path"]["/_files/{attachment_id}"] == ATTEMPTS and stats["slow_bodies_finished"] == 0
    leaked = sum(marker in result.reason for marker in ("signature=", "expires="))
    fault_outcome.record(observed=f"AttachmentFailure after {ATTEMPTS} cut attempts: {result.reason}", leaked=leaked)


def test_slow_attachment_metadata_ends_at_the_deadline(tmp_path: Path) -> None:
    records = [make_invoice(), make_invoice()]
    write_dataset(tmp_path, records, {r["attachment_id"]: DOCUMENT for r in records})
    slow, healthy = records[0]["attachment_id"], records[1]["attachment_id"]
    with running_sandbox(tmp_path) as sb, deadline_client(sb) as client:
        sb.add_fault(f"/v2/attachments/{slow}", kind="slow_body", times=None, rate_bps=100, include_headers=True)
        results = {r.attachment_id: r for r in client.fetch_attachments([slow, healthy])}
        cut(sb, ATTEMPTS)
    assert isinstance(results[healthy], AttachmentDownload) and results[healthy].content == DOCUMENT
    failure = results[slow]
    assert isinstance(failure, AttachmentFailure) and failure.deadline_hit
    assert f"/v2/attachments/{slow}" in failure.reason


# ---- OAuth token calls ----------------------------------------------------------------------------------------

@pytest.mark.fault(scenario="Qonto OAuth token endpoint trickled during a refresh",
                   expected="token call cut at its deadline, retried, then QontoTimeoutError naming /oauth2/token")
def test_slow_token_endpoint_ends_at_its_deadline(tmp_path: Path, fault_outcome: FaultOutcome) -> None:
    write_dataset(tmp_path, [make_invoice()], with_default_attachments=False)
    with running_sandbox(tmp_path) as sb:
        client = oauth_deadline_client(sb, api_deadline_s=30, token_deadline_s=DEADLINE_S)
        with client:
            sb.add_fault("/oauth2/token", kind="slow_body", method="POST", times=None, rate_bps=100,
                         include_headers=True)
            with pytest.raises(QontoTimeoutError) as info:
                client.get_organization()
            stats = cut(sb, 3)
    assert "/oauth2/token" in str(info.value) and f"{DEADLINE_S:g} s deadline" in str(info.value)
    assert stats["by_path"]["/oauth2/token"] == 3  # the token endpoint's own 3 attempts, not 3 per API retry
    assert stats["by_path"].get("/v2/organization", 0) == 0  # no request went out without a token
    fault_outcome.record(observed=str(info.value))


def test_a_refresh_that_outlasts_the_api_deadline_is_cut_with_the_api_call(tmp_path: Path) -> None:
    """Nested deadlines: the API call's deadline also bounds the refresh in its auth flow."""
    write_dataset(tmp_path, [make_invoice()], with_default_attachments=False)
    with running_sandbox(tmp_path) as sb:
        client = oauth_deadline_client(sb, api_deadline_s=DEADLINE_S, token_deadline_s=30)
        with client:
            sb.add_fault("/oauth2/token", kind="slow_body", method="POST", times=None, rate_bps=100,
                         include_headers=True)
            with pytest.raises(QontoTimeoutError) as info:
                client.get_organization()
            stats = cut(sb, ATTEMPTS)
    assert "GET /v2/organization" in str(info.value) and "/oauth2/token" in str(info.value)
    assert stats["by_path"]["/oauth2/token"] == ATTEMPTS  # one cut token call per API attempt, no inner retries
    assert client.stats.deadline_hits == ATTEMPTS
