"""GET /v2/attachments/{id}, pre-signed downloads, GET /v2/organization (reference §4, §5)."""

from __future__ import annotations

import json

import httpx

from well_pipeline_tests.support.qonto_records import (
    MINIMAL_PDF,
    ORGANIZATION_ID,
    make_invoice,
    write_dataset,
)
from well_pipeline_tests.support.qonto_sandbox import api_key_headers, running_sandbox

from .test_auth_and_errors import assert_envelope

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3


def _attachment(client: httpx.Client, sb, attachment_id: str) -> httpx.Response:
    return client.get(f"{sb.base_url}/v2/attachments/{attachment_id}", headers=api_key_headers(sb))


def test_metadata_and_byte_identical_download_without_auth(tmp_path, client, clock):
    pdf_invoice = make_invoice(file_name="facture-mars.pdf")
    png_invoice = make_invoice(file_name="scan.png")
    pdf_bytes = MINIMAL_PDF + b"% unique\n"
    write_dataset(
        tmp_path,
        [pdf_invoice, png_invoice],
        {pdf_invoice["attachment_id"]: pdf_bytes, png_invoice["attachment_id"]: PNG_BYTES},
    )
    with running_sandbox(tmp_path, clock=clock, download_url_ttl_s=1800) as sb:
        response = _attachment(client, sb, pdf_invoice["attachment_id"])
        assert response.status_code == 200
        attachment = response.json()["attachment"]
        assert attachment["id"] == pdf_invoice["attachment_id"]
        assert attachment["file_name"] == "facture-mars.pdf"
        assert attachment["file_size"] == str(len(pdf_bytes))  # a string, as in Qonto's examples
        assert attachment["file_content_type"] == "application/pdf"
        assert attachment["created_at"] == pdf_invoice["created_at"]
        assert attachment["probative_attachment"]["status"] == "available"
        url = httpx.URL(attachment["url"])
        assert url.path == f"/_files/{pdf_invoice['attachment_id']}"
        assert int(url.params["expires"]) == int(clock()) + 1800

        download = httpx.get(attachment["url"])  # fresh client, no Authorization header
        assert download.status_code == 200
        assert download.content == pdf_bytes
        assert download.headers["content-type"] == "application/pdf"

        png = _attachment(client, sb, png_invoice["attachment_id"]).json()["attachment"]
        assert png["file_content_type"] == "image/png"
        png_download = client.get(png["url"])
        assert png_download.content == PNG_BYTES
        assert png_download.headers["content-type"] == "image/png"
        assert sb.stats()["downloads"] == 2


def test_expired_or_tampered_url_is_403_s3_xml(tmp_path, client, clock):
    invoice = make_invoice()
    write_dataset(tmp_path, [invoice])
    with running_sandbox(tmp_path, clock=clock, download_url_ttl_s=30) as sb:
        url = _attachment(client, sb, invoice["attachment_id"]).json()["attachment"]["url"]
        clock.advance(29)
        assert client.get(url).status_code == 200
        clock.advance(1)
        expired = client.get(url)
        assert expired.status_code == 403
        assert expired.headers["content-type"].startswith("application/xml")
        assert b"<Code>AccessDenied</Code>" in expired.content
        assert b"Request has expired" in expired.content
        # A fresh metadata call gives a fresh URL.
        assert (
            client.get(
                _attachment(client, sb, invoice["attachment_id"]).json()["attachment"]["url"]
            ).status_code
            == 200
        )

        parsed = httpx.URL(url)
        forged = parsed.copy_merge_params({"expires": str(int(parsed.params["expires"]) + 3600)})
        denied = client.get(forged)
        assert denied.status_code == 403
        assert b"<Code>AccessDenied</Code>" in denied.content
        unsigned = client.get(f"{sb.base_url}/_files/{invoice['attachment_id']}")
        assert unsigned.status_code == 403
        assert sb.stats()["downloads"] == 2


def test_unknown_or_missing_attachment_is_404(tmp_path, client, clock):
    with_file = make_invoice()
    without_file = make_invoice()
    write_dataset(tmp_path, [with_file])
    write_dataset(tmp_path, [with_file, without_file], with_default_attachments=False)
    with running_sandbox(tmp_path, clock=clock) as sb:
        assert _attachment(client, sb, with_file["attachment_id"]).status_code == 200
        error = assert_envelope(_attachment(client, sb, without_file["attachment_id"]), 404)
        assert error["source"] == {"parameter": "id"}
        assert_envelope(_attachment(client, sb, "not-an-attachment"), 404)


def test_organization_from_file_or_generated(tmp_path, client, clock):
    write_dataset(tmp_path, [make_invoice()])
    with running_sandbox(tmp_path, clock=clock) as sb:
        generated = client.get(f"{sb.base_url}/v2/organization", headers=api_key_headers(sb))
        organization = generated.json()["organization"]
        assert organization["id"] == ORGANIZATION_ID
        assert organization["slug"] == sb.config.api_login
        assert organization["bank_accounts"][0]["iban"].startswith("FR76")

        custom = {"organization": {"id": "org-x", "slug": "acme", "name": "ACME", "bank_accounts": []}}
        (tmp_path / "qonto" / "organization.json").write_text(json.dumps(custom))
        served = client.get(f"{sb.base_url}/v2/organization", headers=api_key_headers(sb))
        assert served.json() == custom
        accounts = client.get(f"{sb.base_url}/v2/bank_accounts", headers=api_key_headers(sb))
        assert accounts.json()["bank_accounts"] == []
        assert accounts.json()["meta"]["total_count"] == 0
        tx = client.get(f"{sb.base_url}/v2/transactions", headers=api_key_headers(sb))
        assert assert_envelope(tx, 422)["source"] == {"parameter": "bank_account_id"}
        tx = client.get(
            f"{sb.base_url}/v2/transactions", params={"iban": "FR76"}, headers=api_key_headers(sb)
        )
        assert tx.json()["transactions"] == []
