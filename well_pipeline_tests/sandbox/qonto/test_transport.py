"""Transport behaviour: staging-token trap, TLS 1.3 only, keep-alive, concurrency, latency."""

from __future__ import annotations

import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from well_pipeline.sandbox.tls import generate_self_signed
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import (
    api_key_headers,
    obtain_tokens,
    running_sandbox,
    wait_for_stats,
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return generate_self_signed(tmp_path_factory.mktemp("tls"))


def test_staging_token_trap_returns_html_200(tmp_path, client):
    write_dataset(tmp_path, [make_invoice()])
    with running_sandbox(tmp_path, staging_token="stg-token-123") as sb:
        for response in (
            client.get(f"{sb.base_url}/v2/supplier_invoices", headers=api_key_headers(sb)),
            client.get(
                f"{sb.base_url}/v2/supplier_invoices",
                headers={**api_key_headers(sb), "X-Qonto-Staging-Token": "wrong"},
            ),
            client.post(f"{sb.base_url}/oauth2/token", data={"grant_type": "refresh_token"}),
            client.get(f"{sb.base_url}/oauth2/auth", params={"client_id": sb.config.client_id}),
        ):
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert "<html" in response.text and "Sign in" in response.text
        staged = httpx.Client(headers={"X-Qonto-Staging-Token": "stg-token-123"}, timeout=5)
        with staged:
            tokens = obtain_tokens(staged, sb)
            ok = staged.get(
                f"{sb.base_url}/v2/supplier_invoices",
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
            )
            assert ok.status_code == 200
            assert len(ok.json()["supplier_invoices"]) == 1
        assert client.get(f"{sb.base_url}/_sandbox/stats").status_code == 200  # control hooks are not trapped


def test_tls13_only(tmp_path, certificate):
    cert, key = certificate
    invoice = make_invoice()
    write_dataset(tmp_path, [invoice])
    with running_sandbox(tmp_path, tls_cert=cert, tls_key=key) as sb:
        assert sb.base_url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=5) as tls_client:
            response = tls_client.get(f"{sb.base_url}/v2/supplier_invoices", headers=api_key_headers(sb))
            assert response.status_code == 200
            assert response.extensions["network_stream"].get_extra_info("ssl_object").version() == "TLSv1.3"
            url = tls_client.get(
                f"{sb.base_url}/v2/attachments/{invoice['attachment_id']}", headers=api_key_headers(sb)
            ).json()["attachment"]["url"]
            assert url.startswith("https://")
            assert tls_client.get(url).status_code == 200
        # Strict X.509 verification (default from Python 3.13) accepts the certificate too.
        strict = ssl.create_default_context(cafile=str(cert))
        strict.verify_flags |= ssl.VERIFY_X509_STRICT
        with httpx.Client(verify=strict, timeout=5) as strict_client:
            assert (
                strict_client.get(f"{sb.base_url}/v2/organization", headers=api_key_headers(sb)).status_code
                == 200
            )
        legacy = ssl.create_default_context(cafile=str(cert))
        legacy.maximum_version = ssl.TLSVersion.TLSv1_2
        with httpx.Client(verify=legacy, timeout=5) as old_client, pytest.raises(httpx.ConnectError):
            old_client.get(f"{sb.base_url}/v2/organization", headers=api_key_headers(sb))
        with pytest.raises(httpx.ConnectError):  # unknown CA is refused by a verifying client
            httpx.get(f"{sb.base_url}/v2/organization", timeout=5)
        with httpx.Client(
            verify=ssl.create_default_context(cafile=str(cert)), timeout=5
        ) as still_served:  # the failed handshakes did not hurt
            assert (
                still_served.get(f"{sb.base_url}/v2/organization", headers=api_key_headers(sb)).status_code
                == 200
            )


def test_keep_alive_reuses_one_connection(tmp_path):
    write_dataset(tmp_path, [make_invoice()])
    with running_sandbox(tmp_path) as sb, httpx.Client(timeout=5) as http:
        ports = set()
        for _ in range(5):
            response = http.get(f"{sb.base_url}/v2/supplier_invoices", headers=api_key_headers(sb))
            assert response.status_code == 200
            assert int(response.headers["content-length"]) == len(response.content)
            ports.add(response.extensions["network_stream"].get_extra_info("client_addr")[1])
        assert len(ports) == 1


def test_many_concurrent_clients_with_latency(tmp_path):
    """32 clients released together are served in parallel. The server counts the requests it holds at once
    (`max_in_flight`; one at a time would count 1), so the proof does not depend on this machine's speed: a
    wall-clock bound failed on a loaded 2-core machine while every request was in fact held concurrently."""
    write_dataset(tmp_path, [make_invoice(invoice_id=f"inv-{i}") for i in range(150)])
    latency_ms = 200
    with running_sandbox(tmp_path, latency_ms=latency_ms) as sb:
        barrier = threading.Barrier(32)

        def fetch(page: int) -> int:
            with httpx.Client(timeout=10) as http:
                barrier.wait()
                response = http.get(
                    f"{sb.base_url}/v2/supplier_invoices",
                    params={"per_page": 5, "page": page % 30 + 1},
                    headers=api_key_headers(sb),
                )
                assert response.status_code == 200
                return len(response.json()["supplier_invoices"])

        with ThreadPoolExecutor(max_workers=32) as pool:
            sizes = list(pool.map(fetch, range(32)))
        assert sizes == [5] * 32
        stats = sb.stats()
        assert stats["api_requests"] == 32
        # Each request sleeps `latency_ms` on the server; 16 of them overlapping needs a parallel server.
        assert stats["max_in_flight"] >= 16, f"requests were not served in parallel: {stats['max_in_flight']}"


def test_latency_is_applied(tmp_path, client):
    with running_sandbox(tmp_path, latency_ms=150) as sb:
        started = time.monotonic()
        assert (
            client.get(f"{sb.base_url}/v2/supplier_invoices", headers=api_key_headers(sb)).status_code == 200
        )
        assert time.monotonic() - started >= 0.15  # a lower bound: a busy machine only adds to it


def test_control_requests_skip_the_latency(tmp_path, client):
    """A control request is answered well within a 60 s latency (its 30 s timeout is half of it), so the check
    holds however slow this machine is; an API request on the same sandbox is held by that latency."""
    with running_sandbox(tmp_path, latency_ms=60_000) as sb:
        assert client.get(f"{sb.base_url}/_sandbox/stats", timeout=30).status_code == 200
        with pytest.raises(httpx.ReadTimeout):  # stopping the sandbox then ends the held request at once
            client.get(f"{sb.base_url}/v2/organization", headers=api_key_headers(sb), timeout=0.5)


def test_stop_is_prompt_with_idle_and_sleeping_connections(tmp_path):
    """Stopping neither waits for a request held by a fault nor for an idle keep-alive connection.

    "Prompt" is measured against the fault, not against this machine's speed: a stop that waited for the held
    request would take the fault's whole 60 s, so a stop under a sixth of it cannot be a waiting one, however
    loaded the machine. The client's own 50 s timeout tells a dropped request from one that timed out."""
    fault_delay_s = 60.0
    sb_cm = running_sandbox(tmp_path)
    sb = sb_cm.__enter__()
    idle = httpx.Client(timeout=5)
    idle.get(f"{sb.base_url}/_sandbox/stats")  # leaves an idle keep-alive connection
    sb.add_fault(path_prefix="/v2/", kind="timeout", delay_s=fault_delay_s)
    outcome: list[object] = []

    def sleeping_request() -> None:
        try:
            outcome.append(
                httpx.get(f"{sb.base_url}/v2/organization", headers=api_key_headers(sb), timeout=50)
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    sleeper = threading.Thread(target=sleeping_request, daemon=True)
    sleeper.start()
    wait_for_stats(sb, lambda s: s["api_requests"] == 1, "the request to be held by the timeout fault")
    started = time.monotonic()
    sb_cm.__exit__(None, None, None)
    stop_s = time.monotonic() - started
    assert stop_s < fault_delay_s / 6, f"stopping waited for the held request ({stop_s:.1f} s)"
    sleeper.join(timeout=2 * fault_delay_s)
    assert not sleeper.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError), outcome  # dropped, not answered
    assert not isinstance(outcome[0], httpx.TimeoutException), outcome  # by the stop, not by the client
    with pytest.raises(httpx.HTTPError):
        idle.get(f"{sb.base_url}/_sandbox/stats")
    idle.close()
