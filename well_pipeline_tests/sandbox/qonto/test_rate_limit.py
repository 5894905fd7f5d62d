"""Per-IP sliding-window rate limits (reference §7)."""

from __future__ import annotations

from well_pipeline.sandbox.qonto import ManualClock
from well_pipeline.sandbox.qonto.rate_limit import SlidingWindowLimiter, Window
from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_headers, running_sandbox

from .test_auth_and_errors import assert_envelope


def test_429_after_the_limit_with_retry_after(tmp_path, client, clock: ManualClock):
    invoice = make_invoice()
    write_dataset(tmp_path, [invoice])
    with running_sandbox(tmp_path, clock=clock, rate_limit_requests=20, rate_limit_window_s=1.0) as sb:
        url = f"{sb.base_url}/v2/supplier_invoices"
        # Fetch the download URL first; downloads and control calls must not consume the budget.
        download_url = client.get(
            f"{sb.base_url}/v2/attachments/{invoice['attachment_id']}", headers=api_key_headers(sb)
        ).json()["attachment"]["url"]
        statuses = [client.get(url, headers=api_key_headers(sb)).status_code for _ in range(19)]
        assert statuses == [200] * 19
        limited = client.get(url, headers=api_key_headers(sb))
        error = assert_envelope(limited, 429)
        assert error["code"] == "too_many_requests"
        assert limited.headers["Retry-After"] == "1"
        # OAuth host shares the per-IP budget.
        assert client.post(f"{sb.base_url}/oauth2/token", data={}).status_code == 429
        assert client.get(download_url).status_code == 200
        assert client.get(f"{sb.base_url}/_sandbox/stats").status_code == 200
        assert sb.stats()["rate_limited"] == 2

        clock.advance(1.0)  # the window slides past every earlier request
        assert client.get(url, headers=api_key_headers(sb)).status_code == 200


def test_long_window_and_retry_after_switch(tmp_path, client, clock: ManualClock):
    with running_sandbox(
        tmp_path,
        clock=clock,
        rate_limit_requests=100,
        rate_limit_window_s=1.0,
        long_rate_limit_requests=5,
        long_rate_limit_window_s=600.0,
        send_retry_after=False,
    ) as sb:
        url = f"{sb.base_url}/v2/supplier_invoices"
        for _ in range(5):
            assert client.get(url, headers=api_key_headers(sb)).status_code == 200
            clock.advance(2)
        limited = client.get(url, headers=api_key_headers(sb))
        assert limited.status_code == 429
        assert "Retry-After" not in limited.headers


def test_sliding_window_retry_after_counts_to_the_oldest_blocking_request():
    clock = ManualClock(1000.0)
    limiter = SlidingWindowLimiter([Window(3, 10.0), Window(0, 600.0)], clock)
    assert all(limiter.check("ip").allowed for _ in range(2))
    clock.advance(4)
    assert limiter.check("ip").allowed
    refused = limiter.check("ip")
    assert (refused.allowed, refused.retry_after_s) == (False, 6)
    assert limiter.check("other-ip").allowed  # per client IP
    clock.advance(6)
    assert limiter.check("ip").allowed  # the two oldest left the window
    assert limiter.check("ip").allowed
    refused = limiter.check("ip")
    assert (refused.allowed, refused.retry_after_s) == (False, 4)
