"""The organisations one sandbox serves, each with its own dataset, OAuth state and counters.

Isolation is by construction rather than by filtering: every organisation has its own `Dataset` (its own
directory) and listing cache, its own `OAuthStore` (client, codes, grants, tokens, consents) and its own `Stats`, and a
request is served from exactly one organisation — the one its credential belongs to. A record, attachment
or token of another organisation is therefore simply unknown to the handler that answers.

`identify` names the organisation a request claims *before* it is authenticated (from the bearer token,
the API-key login, the OAuth client_id or a download URL's `org`); it only attributes counters, rate-limit
buckets and org-scoped faults. Authentication proper (auth.py, oauth.py) still checks the secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl

from .clock import Clock
from .config import ORG_NAME_PATTERN, OrgConfig, SandboxConfig
from .dataset import Dataset
from .listing import ListingEngine
from .messages import Request
from .oauth import OAuthStore
from .stats import Stats


@dataclass
class Organization:
    """One served organisation: who it is (its credentials) and what it holds."""

    credentials: OrgConfig
    # The sandbox config with this organisation's credentials in the top-level fields, for OAuthStore
    # and auth (which read `client_id`, `api_login`, ... from a SandboxConfig).
    config: SandboxConfig
    dataset: Dataset
    # Its own result cache: the cache is keyed by snapshot version, which every dataset numbers from 1.
    listing: ListingEngine
    oauth: OAuthStore
    stats: Stats

    @property
    def name(self) -> str:
        """The organisation's name (the default one is named after its API login)."""
        return self.credentials.name

    @property
    def data_dir(self) -> Path:
        """Its dataset directory."""
        return Path(self.credentials.data_dir)


def default_org_config(data_dir: Path, config: SandboxConfig) -> OrgConfig:
    """The default organisation: the sandbox's own data directory with today's demo credentials.

    It is named after its API login ("well-demo-org"), or "default" when a custom login is not a plain slug.
    """
    return OrgConfig(
        name=config.api_login if ORG_NAME_PATTERN.match(config.api_login) else "default",
        data_dir=data_dir,
        client_id=config.client_id,
        client_secret=config.client_secret,
        api_login=config.api_login,
        api_secret=config.api_secret,
    )


class Organizations:
    """Lookup of the served organisations by name, OAuth client id, API login and access token."""

    def __init__(self, data_dir: Path, config: SandboxConfig, clock: Clock) -> None:
        default = default_org_config(data_dir, config)
        others = list(config.organizations)
        if any(Path(org.data_dir).resolve() == data_dir.resolve() for org in others):
            raise ValueError("each organisation needs its own dataset directory (one repeats the default's)")
        if any(org.name == default.name for org in others):
            raise ValueError(f"organisation name used twice: {default.name}")
        self._by_name: dict[str, Organization] = {}
        for credentials in (default, *others):
            org_config = replace(
                config,
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
                api_login=credentials.api_login,
                api_secret=credentials.api_secret,
                organizations=(),
            )
            self._by_name[credentials.name] = Organization(
                credentials=credentials,
                config=org_config,
                dataset=Dataset(credentials.data_dir),
                listing=ListingEngine(),
                oauth=OAuthStore(org_config, clock),
                stats=Stats(),
            )
        self.default = self._by_name[default.name]
        self._by_client = {org.credentials.client_id: org for org in self._by_name.values()}
        self._by_login = {org.credentials.api_login: org for org in self._by_name.values()}

    def __iter__(self) -> Iterator[Organization]:
        return iter(self._by_name.values())

    def names(self) -> list[str]:
        """Names, default first."""
        return list(self._by_name)

    def get(self, name: str | None) -> Organization:
        """The organisation called `name` (the default one for None); KeyError names the known ones."""
        if name is None or name == "":
            return self.default
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no organisation {name!r}; known: {', '.join(self._by_name)}") from None

    def by_client_id(self, client_id: str | None) -> Organization | None:
        """The organisation whose OAuth client this is."""
        return self._by_client.get(client_id or "")

    def by_api_login(self, login: str) -> Organization | None:
        """The organisation whose API-key login this is."""
        return self._by_login.get(login)

    def by_access_token(self, token: str) -> Organization | None:
        """The organisation that issued this access token (live or not)."""
        for org in self._by_name.values():
            if org.oauth.knows_access_token(token):
                return org
        return None

    def set_issuer(self, issuer: str) -> None:
        """The base URL once bound (id_token `iss`)."""
        for org in self._by_name.values():
            org.oauth.issuer = issuer

    def identify(self, request: Request, area: str) -> Organization | None:
        """The organisation a request claims, unauthenticated (see the module docstring); None if none."""
        if area == "api":
            value = (request.header("Authorization") or "").strip()
            scheme, _, rest = value.partition(" ")
            if scheme.lower() == "bearer":
                return self.by_access_token(rest.strip())
            if " " not in value and ":" in value:
                return self.by_api_login(value.partition(":")[0])
            return None
        if area == "oauth":
            if request.path == "/oauth2/auth":
                return self.by_client_id(dict(parse_qsl(request.query_string)).get("client_id"))
            content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
            if content_type == "application/x-www-form-urlencoded":
                return self.by_client_id(request.form().get("client_id"))
            return None
        if area == "files":
            name = dict(request.query).get("org")
            return self.default if not name else self._by_name.get(name)
        return None
