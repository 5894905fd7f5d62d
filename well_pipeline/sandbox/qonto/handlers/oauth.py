"""The OAuth host: GET /oauth2/auth, POST /oauth2/token, POST /oauth2/revoke.

`/oauth2/auth` **auto-approves**: in reality the user's browser lands on Qonto's login and consent
screens; the sandbox has no user, so it acts as if the user had just clicked "Authorize" and redirects
at once (302) to `redirect_uri?code=...&scope=...&state=...`. A client (or test) can therefore do the
whole code flow with plain HTTP by reading the Location header instead of following it.

Client credentials are accepted only in the form body (client_secret_post), as Qonto documents;
Basic-only authentication gets 401 invalid_client. Errors are Ory Hydra-style
`{"error", "error_description"}` (exact Qonto wording UNCONFIRMED).

Each served organisation has its own OAuth client: the client_id of a request picks the organisation the
consent is for (`/oauth2/auth` approves for that organisation only), and codes, refresh tokens and revocations
are looked up in that organisation's store alone. Real Qonto lets one client be approved by several
organisations (the user picks one); the sandbox binds one client to one organisation, which is what lets
`well qonto connect --sandbox-approve` approve each workspace for its own organisation.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from ..context import Call, SandboxContext
from ..messages import Response
from ..oauth import INVALID_CLIENT_DESCRIPTION, KNOWN_SCOPES, OAuthError
from ..organizations import Organization

NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


def oauth_error_response(error: OAuthError) -> Response:
    """Render an OAuthError."""
    return Response.json(
        error.status, {"error": error.error, "error_description": error.description}, NO_STORE
    )


def _append_query(uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{urlencode(params)}"


def authorize(ctx: SandboxContext, call: Call) -> Response:
    """GET /oauth2/auth: validate, then redirect with a fresh code (auto-approved consent)."""
    params = dict(parse_qsl(call.request.query_string, keep_blank_values=True))
    client_id = params.get("client_id", "")
    org = ctx.orgs.by_client_id(client_id)
    if org is None:
        return oauth_error_response(
            OAuthError(400, "invalid_client", "The requested OAuth 2.0 Client does not exist.")
        )
    redirect_uri = params.get("redirect_uri", "")
    parts = urlsplit(redirect_uri)
    allowed = ctx.config.allowed_redirect_uris
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.fragment
        or (allowed is not None and redirect_uri not in allowed)
    ):
        return oauth_error_response(
            OAuthError(
                400,
                "invalid_request",
                "The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered "
                "redirect urls.",
            )
        )
    state = params.get("state", "")

    def redirect_error(error: str, description: str) -> Response:
        query = {"error": error, "error_description": description}
        if state:
            query["state"] = state
        return Response.empty(302, [("Location", _append_query(redirect_uri, query)), *NO_STORE])

    if params.get("response_type") != "code":
        return redirect_error(
            "unsupported_response_type", "The authorization server only supports response_type=code."
        )
    if len(state) < 8:
        return redirect_error(
            "invalid_state",
            "The state is missing or does not have enough characters and is therefore considered too weak.",
        )
    scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
    if not scopes:
        return redirect_error("invalid_scope", "The 'scope' parameter is required.")
    unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
    if unknown:
        return redirect_error(
            "invalid_scope",
            f"The requested scope is invalid, unknown, or malformed: {' '.join(unknown)}",
        )
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or None
    if method is not None and (method not in ("S256", "plain") or challenge is None):
        return redirect_error("invalid_request", "Unsupported or incomplete PKCE parameters.")
    code = org.oauth.create_code(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        organization_id=params.get("organization_id") or None,
        code_challenge=challenge,
        code_challenge_method=(method or "plain") if challenge else None,
    )
    location = _append_query(redirect_uri, {"code": code, "scope": " ".join(scopes), "state": state})
    return Response.empty(302, [("Location", location), *NO_STORE])


def _client_from_body(ctx: SandboxContext, call: Call) -> tuple[Organization, dict[str, str]]:
    """Parse the form body and authenticate the client (client_secret_post only); its organisation too."""
    content_type = (call.request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            400, "invalid_request", "The request must be sent as application/x-www-form-urlencoded."
        )
    form = call.request.form()
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    authorization = call.request.header("Authorization") or ""
    if (not client_id or not client_secret) and authorization.lower().startswith("basic "):
        raise OAuthError(
            401,
            "invalid_client",
            "Client authentication failed: the OAuth 2.0 Client supports client authentication method "
            "'client_secret_post', but method 'client_secret_basic' was requested.",
        )
    org = ctx.orgs.by_client_id(client_id)
    if org is None:
        raise OAuthError(401, "invalid_client", INVALID_CLIENT_DESCRIPTION)
    org.oauth.authenticate_client(client_id, client_secret)
    return org, form


def token(ctx: SandboxContext, call: Call) -> Response:
    """POST /oauth2/token: authorization_code and refresh_token grants."""
    try:
        org, form = _client_from_body(ctx, call)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            body = org.oauth.exchange_code(
                client_id=form["client_id"],
                code=form.get("code"),
                redirect_uri=form.get("redirect_uri"),
                code_verifier=form.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            body = org.oauth.refresh(client_id=form["client_id"], refresh_token=form.get("refresh_token"))
        elif not grant_type:
            raise OAuthError(400, "invalid_request", "The request is missing the 'grant_type' parameter.")
        else:
            raise OAuthError(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
    except OAuthError as error:
        return oauth_error_response(error)
    return Response.json(200, body, NO_STORE)


def revoke(ctx: SandboxContext, call: Call) -> Response:
    """POST /oauth2/revoke (RFC 7009; documented by qontoctl only, UNCONFIRMED at Qonto).

    Only the calling client's own tokens can be revoked: another organisation's token is unknown to this
    client's store and, like any unknown token, answers 200 and changes nothing (RFC 7009 §2.2).
    """
    try:
        org, form = _client_from_body(ctx, call)
        token_value = form.get("token")
        if not token_value:
            raise OAuthError(400, "invalid_request", "The request is missing the 'token' parameter.")
    except OAuthError as error:
        return oauth_error_response(error)
    org.oauth.revoke_token(token_value)
    return Response.empty(200, NO_STORE)
