"""A real S3-compatible server on loopback for the tests of the `s3://` document store: moto's server mode.

Why moto's server and not moto's in-process mock: the store is then exercised the way production uses it, by
boto3 over HTTP against an endpoint URL (signing, ranges, 404s, the body stream), with nothing patched in the
process under test. `ThreadedMotoServer` is a werkzeug server in a thread, started once per test process on a
free port (port 0).

Credentials: the store reads the standard AWS chain, so the tests set dummy `AWS_*` variables, as a deployment
would set real ones; moto accepts any.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "well-test-key",
    "AWS_SECRET_ACCESS_KEY": "well-test-secret",
    "AWS_EC2_METADATA_DISABLED": "true",  # never wait on an instance-metadata endpoint
}
REGION = "us-east-1"


class S3Unavailable(RuntimeError):
    """moto's server cannot be imported (the `test` extra is not installed)."""


@dataclass
class S3Server:
    server: Any
    endpoint_url: str

    def client(self) -> Any:
        """A boto3 client of this server, for test set-up (creating buckets, listing keys)."""
        import boto3

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def stop(self) -> None:
        self.server.stop()


def start_server() -> S3Server:
    """moto's S3 server on 127.0.0.1 at a free port, ready when this returns."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise S3Unavailable(f"moto[server] is not installed ({exc}): pip install -e '.[test]'") from exc
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request in the test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server(server, f"http://{host}:{port}")
