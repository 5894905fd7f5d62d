"""Injected faults and the control endpoints (docs/CONTRACTS.md, "Control endpoints")."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime

import httpx
import pytest

from well_pipeline_tests.support.qonto_records import make_invoice, write_dataset
from well_pipeline_tests.support.qonto_sandbox import api_key_headers, running_sandbox, wait_for_stats

from .test_auth_and_errors import assert_envelope


@pytest.fixture
def sandbox(tmp_path, clock):
    write_dataset(tmp_path, [make_invoice(invoice_id="inv-1"), make_invoice(invoice_id="inv-2")])
    with running_sandbox(tmp_path, clock=clock) as sb:
        yield sb


def _list(client: httpx.Client, sb) -> httpx.Response:
    return client.get(f"{sb.base_url}/v2/supplier_invoices", headers=api_key_headers(sb))


@pytest.mark.parametrize(("status", "retry_after"), [(429, 2), (500, None), (503, 7)])
def test_status_fault_over_http_fires_times_then_disarms(sandbox, client, status, retry_after):
    spec = {"path_prefix": "/v2/supplier_invoices", "kind": "status", "status": status, "times": 2}
    if retry_after is not None:
        spec["retry_after"] = retry_after
    created = client.post(f"{sandbox.base_url}/_sandbox/faults", json=spec)
    assert created.status_code == 201
    for _ in range(2):
        response = _list(client, sandbox)
        assert_envelope(response, status)
        assert response.headers.get("Retry-After") == (str(retry_after) if retry_after is not None else None)
    assert _list(client, sandbox).status_code == 200
    assert sandbox.stats()["faults_injected"] == 2
    assert sandbox.stats()["rate_limited"] == 0  # injected 429s are not rate limiting


def test_fault_matches_prefix_only(sandbox, client):
    sandbox.add_fault(path_prefix="/v2/attachments", kind="status", status=500, times=None)
    assert _list(client, sandbox).status_code == 200
    assert (
        client.get(f"{sandbox.base_url}/v2/attachments/x", headers=api_key_headers(sandbox)).status_code
        == 500
    )
    assert (
        client.get(f"{sandbox.base_url}/v2/attachments/x", headers=api_key_headers(sandbox)).status_code
        == 500
    )
    assert client.delete(f"{sandbox.base_url}/_sandbox/faults").status_code == 204
    assert (
        client.get(f"{sandbox.base_url}/v2/attachments/x", headers=api_key_headers(sandbox)).status_code
        == 404
    )


def test_html_fault(sandbox, client):
    sandbox.add_fault(path_prefix="/v2/", kind="html")
    response = _list(client, sandbox)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_malformed_json_fault(sandbox, client):
    sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="malformed_json")
    response = _list(client, sandbox)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.content.startswith(b'{"supplier_invoices":[')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert _list(client, sandbox).json()["meta"]["total_count"] == 2


def test_timeout_fault_delays_the_answer(sandbox, client):
    sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="timeout", delay_s=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{sandbox.base_url}/v2/supplier_invoices", headers=api_key_headers(sandbox), timeout=0.2)
    sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="timeout", delay_s=0.3)
    started = time.monotonic()
    assert _list(client, sandbox).status_code == 200  # answers normally once the delay is over
    assert time.monotonic() - started >= 0.3


def test_disconnect_fault(sandbox, client):
    sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="disconnect")
    with pytest.raises(httpx.RemoteProtocolError):
        _list(client, sandbox)
    assert _list(client, sandbox).status_code == 200


def test_unknown_field_fault(sandbox, client):
    sandbox.add_fault(
        path_prefix="/v2/supplier_invoices", kind="unknown_field", times=2, field="brand_new", value={"x": 1}
    )
    listed = _list(client, sandbox).json()["supplier_invoices"]
    assert all(record["brand_new"] == {"x": 1} for record in listed) and len(listed) == 2
    one = client.get(f"{sandbox.base_url}/v2/supplier_invoices/inv-1", headers=api_key_headers(sandbox))
    assert one.json()["supplier_invoice"]["brand_new"] == {"x": 1}
    assert "brand_new" not in _list(client, sandbox).json()["supplier_invoices"][0]


def test_method_filter_and_invalid_specs(sandbox, client):
    sandbox.add_fault(path_prefix="/oauth2/token", kind="status", status=503, method="POST")
    assert client.get(f"{sandbox.base_url}/oauth2/token").status_code == 405
    assert client.post(f"{sandbox.base_url}/oauth2/token", data={}).status_code == 503
    for bad in (
        {"kind": "explode"},
        {"kind": "status"},
        {"kind": "status", "status": 200},
        {"kind": "html", "times": 0},
        {"kind": "html", "path_prefix": "/_sandbox"},
        {"kind": "html", "surprise": 1},
    ):
        assert client.post(f"{sandbox.base_url}/_sandbox/faults", json=bad).status_code == 400, bad
    with pytest.raises(ValueError):
        sandbox.add_fault(path_prefix="/v2", kind="status", status=99)
    assert client.get(f"{sandbox.base_url}/_sandbox/faults").json() == {"faults": []}


def test_stats_endpoint_and_reset(sandbox, client):
    _list(client, sandbox)
    client.get(f"{sandbox.base_url}/v2/supplier_invoices/inv-1", headers=api_key_headers(sandbox))
    client.post(f"{sandbox.base_url}/oauth2/token", data={})
    stats = client.get(f"{sandbox.base_url}/_sandbox/stats").json()
    assert stats["requests"] == 3
    assert stats["api_requests"] == 2
    assert stats["rate_limited"] == 0
    assert stats["downloads"] == 0
    assert stats["by_path"] == {
        "/v2/supplier_invoices": 1,
        "/v2/supplier_invoices/{invoice_id}": 1,
        "/oauth2/token": 1,
    }
    assert stats["by_status"] == {"200": 2, "400": 1}
    sandbox.reset_stats()
    assert sandbox.stats()["requests"] == 0
    _list(client, sandbox)
    assert client.delete(f"{sandbox.base_url}/_sandbox/stats").status_code == 204
    assert sandbox.stats()["requests"] == 0


# ---- slow_body and shifted_page (issue 8) ------------------------------------------------------------------------

def test_slow_body_fault_trickles_the_whole_answer(sandbox, client):
    expected = _list(client, sandbox).json()
    sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="slow_body", rate_bps=20_000)
    with client.stream("GET", f"{sandbox.base_url}/v2/supplier_invoices", headers=api_key_headers(sandbox)) as slow:
        assert slow.status_code == 200 and slow.headers["connection"] == "close"
        pieces = list(slow.iter_raw())
    assert json.loads(b"".join(pieces)) == expected
    assert len(pieces) > 1  # it came a few bytes at a time, not in one write
    stats = wait_for_stats(sandbox, lambda s: s["slow_bodies_finished"] == 1, "the finished trickle")
    assert stats["slow_bodies_cut"] == 0


def test_slow_body_fault_notices_a_client_that_hangs_up(sandbox, client):
    sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="slow_body", rate_bps=200)
    with client.stream("GET", f"{sandbox.base_url}/v2/supplier_invoices", headers=api_key_headers(sandbox)) as slow:
        assert slow.status_code == 200  # headers arrive at once; only the body trickles
    wait_for_stats(sandbox, lambda s: s["slow_bodies_cut"] == 1, "the cut trickle")
    assert sandbox.stats()["slow_bodies_finished"] == 0
    assert _list(client, sandbox).status_code == 200  # times=1: consumed


def test_slow_body_fault_can_trickle_the_headers_too(sandbox):
    sandbox.add_fault(path_prefix="/v2/supplier_invoices", kind="slow_body", rate_bps=200, include_headers=True)
    auth = api_key_headers(sandbox)["Authorization"]
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(f"GET /v2/supplier_invoices HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n".encode())
        first = sock.recv(4096)
        assert first and len(first) <= 10 and b"\r\n\r\n" not in first  # 10 bytes per write at 200 B/s
    wait_for_stats(sandbox, lambda s: s["slow_bodies_cut"] == 1, "the cut trickle")


def test_slow_body_fault_applies_to_downloads(tmp_path, clock, client):
    record = make_invoice(invoice_id="inv-1")
    write_dataset(tmp_path, [record])
    with running_sandbox(tmp_path, clock=clock) as sb:
        meta = client.get(f"{sb.base_url}/v2/attachments/{record['attachment_id']}", headers=api_key_headers(sb))
        url = meta.json()["attachment"]["url"]
        normal = client.get(url).content
        sb.add_fault(path_prefix="/_files/", kind="slow_body", rate_bps=50_000)
        assert client.get(url).content == normal
        wait_for_stats(sb, lambda s: s["slow_bodies_finished"] == 1, "the finished trickle")


def test_shifted_page_fault_repeats_one_record_and_drops_the_next(tmp_path, clock, client):
    write_dataset(tmp_path, [make_invoice(invoice_id=f"inv-{n}",
                                          created_at=datetime(2026, 3, 14, 9, n, tzinfo=UTC)) for n in range(5)])
    with running_sandbox(tmp_path, clock=clock) as sb:
        sb.add_fault(path_prefix="/v2/supplier_invoices", kind="shifted_page", times=1)

        def page(number: int) -> dict:
            return client.get(f"{sb.base_url}/v2/supplier_invoices", headers=api_key_headers(sb),
                              params={"sort_by": "created_at:asc", "per_page": 2, "page": number}).json()

        first = page(1)  # page 1 cannot shift: it does not consume the fault
        assert [r["id"] for r in first["supplier_invoices"]] == ["inv-0", "inv-1"]
        second = page(2)
        assert [r["id"] for r in second["supplier_invoices"]] == ["inv-1", "inv-3"]  # inv-1 again, inv-2 never
        assert second["meta"]["total_count"] == 5 and second["meta"]["current_page"] == 2
        assert [r["id"] for r in page(2)["supplier_invoices"]] == ["inv-2", "inv-3"]  # consumed
        sb.add_fault(path_prefix="/v2/supplier_invoices", kind="shifted_page", times=None, page=3)
        assert [r["id"] for r in page(2)["supplier_invoices"]] == ["inv-2", "inv-3"]  # only page 3 shifts
        assert [r["id"] for r in page(3)["supplier_invoices"]] == ["inv-3"]
        assert [r["id"] for r in page(3)["supplier_invoices"]] == ["inv-3"]


@pytest.mark.parametrize("bad", [
    {"kind": "slow_body", "rate_bps": 0},
    {"kind": "slow_body", "rate_bps": True},
    {"kind": "slow_body", "include_headers": "yes"},
    {"kind": "status", "status": 500, "rate_bps": 5},
    {"kind": "shifted_page", "page": 1},
    {"kind": "html", "page": 2},
])
def test_new_fault_kinds_refuse_bad_parameters(sandbox, client, bad):
    assert client.post(f"{sandbox.base_url}/_sandbox/faults", json=bad).status_code == 400
