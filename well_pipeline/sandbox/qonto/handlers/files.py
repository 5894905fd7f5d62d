"""GET /_files/{attachment_id}: the pre-signed download (stands in for Qonto's file host, probably S3).

No Authorization header is needed; the signature and expiry in the query are the credential. Failures
answer like S3: 403 AccessDenied XML for an expired or forged URL, 404 NoSuchKey when the file is gone.
The URL's signed `org` picks the organisation whose dataset serves the file (none: the default one).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from urllib.parse import quote

from ..context import Call, SandboxContext
from ..dataset import content_type_for
from ..messages import XML_CONTENT_TYPE, Response
from ..pages import s3_error
from ..signing import UrlCheck


def download(ctx: SandboxContext, call: Call, attachment_id: str) -> Response:
    """Serve the attachment's bytes exactly as stored on disk."""
    params = dict(call.request.query)
    org_name = params.get("org", "")
    check = ctx.signer.verify(attachment_id, params.get("expires"), params.get("signature"), call.now, org_name)
    if check is UrlCheck.EXPIRED:
        expires = datetime.fromtimestamp(int(params["expires"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        now = datetime.fromtimestamp(call.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = s3_error("AccessDenied", "Request has expired", {"Expires": expires, "ServerTime": now})
        return Response(403, body, XML_CONTENT_TYPE)
    if check is UrlCheck.BAD_SIGNATURE:
        body = s3_error(
            "AccessDenied",
            "The request signature we calculated does not match the signature you provided.",
        )
        return Response(403, body, XML_CONTENT_TYPE)
    dataset = ctx.orgs.get(org_name or None).dataset  # a valid signature names a served organisation
    snapshot = dataset.current()
    row = snapshot.by_attachment.get(attachment_id)
    cutoff = ctx.cutoff(call.now)
    path = dataset.attachment_path(attachment_id)
    if row is None or path is None or (cutoff is not None and row.created < cutoff):
        return Response(404, s3_error("NoSuchKey", "The specified key does not exist."), XML_CONTENT_TYPE)
    data = path.read_bytes()
    file_name = row.file_name if attachment_id == row.attachment_id and row.file_name else path.name
    headers = [
        ("ETag", f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'),
        ("Content-Disposition", f"inline; filename*=UTF-8''{quote(file_name, safe='')}"),
        ("Accept-Ranges", "none"),
    ]
    return Response(200, data, content_type_for(path), headers)
