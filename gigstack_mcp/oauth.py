"""OAuth for the HTTP transport, as a resource server: clients get tokens from your authorization server
(Keycloak, Auth0, Okta, Entra...), we publish where that is (RFC 9728 protected-resource metadata) and
ask it about each token (RFC 7662 introspection). A token's subject maps server-side to a gigstack API
key and team, exactly like a static MCP token; no OAuth token is ever passed to gigstack."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from .context import Credentials
from .settings import Settings

METADATA_PATH = "/.well-known/oauth-protected-resource"
CACHE_SECONDS = 60.0  # an introspection answer is reused at most this long (and never past `exp`)
CACHE_ENTRIES = 10_000
INTROSPECTION_TIMEOUT = 5.0


class OAuthConfigError(ValueError):
    """A GIGSTACK_MCP_OAUTH_* setting is missing or malformed (reported at start-up)."""


@dataclass(frozen=True)
class Grant:
    """An accepted OAuth token: who (a principal safe to log), which gigstack account, which scopes."""

    principal: str
    credentials: Credentials
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Refusal:
    """Why a token was not accepted, as the HTTP answer: 401 invalid_token, 403 insufficient_scope or
    no account, 503 when the authorization server did not answer (the token may be fine)."""

    status: int
    error: str
    description: str


@dataclass(frozen=True)
class OAuthConfig:
    issuer: str
    introspection_url: str
    resource: str  # the public URL of /mcp: the resource identifier tokens must be issued for
    client_id: str | None
    client_secret: SecretStr | None
    scopes: tuple[str, ...]
    accounts: dict[str, Credentials]  # "sub:NAME" / "client:NAME" / "sub:*" / "client:*" / "*" -> account

    @classmethod
    def from_settings(cls, settings: Settings) -> OAuthConfig | None:
        if not settings.mcp_oauth_issuer:
            return None
        missing = [
            name
            for name, value in (
                ("GIGSTACK_MCP_OAUTH_INTROSPECTION_URL", settings.mcp_oauth_introspection_url),
                ("GIGSTACK_MCP_PUBLIC_URL", settings.mcp_public_url),
                ("GIGSTACK_MCP_OAUTH_ACCOUNTS", settings.mcp_oauth_accounts),
            )
            if not value
        ]
        if missing:
            raise OAuthConfigError(f"OAuth needs {', '.join(missing)} as well as the issuer")
        for name, url in (
            ("issuer", settings.mcp_oauth_issuer),
            ("introspection URL", settings.mcp_oauth_introspection_url),
            ("public URL", settings.mcp_public_url),
        ):
            if urlsplit(str(url)).scheme not in ("http", "https") or not urlsplit(str(url)).netloc:
                raise OAuthConfigError(f"the OAuth {name} must be an http(s) URL, got {url!r}")
        assert settings.mcp_oauth_accounts is not None and settings.mcp_public_url is not None
        return cls(
            issuer=settings.mcp_oauth_issuer,
            introspection_url=str(settings.mcp_oauth_introspection_url),
            resource=settings.mcp_public_url.rstrip("/"),
            client_id=settings.mcp_oauth_client_id,
            client_secret=settings.mcp_oauth_client_secret,
            scopes=tuple(s for s in settings.mcp_oauth_scopes.replace(",", " ").split() if s),
            accounts=parse_accounts(settings.mcp_oauth_accounts.get_secret_value()),
        )

    @property
    def metadata_url(self) -> str:
        """Where the metadata for this resource lives (RFC 9728 §3.1: the path goes after the suffix)."""
        parts = urlsplit(self.resource)
        return f"{parts.scheme}://{parts.netloc}{METADATA_PATH}{parts.path}"

    @property
    def metadata_paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((METADATA_PATH + urlsplit(self.resource).path, METADATA_PATH)))

    def metadata(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "bearer_methods_supported": ["header"],
            "resource_name": "gigstack-mcp (CFDI 4.0 invoicing)",
        }
        if self.scopes:
            doc["scopes_supported"] = list(self.scopes)
        return doc

    def challenge(self, error: str | None = None) -> str:
        """The WWW-Authenticate value for a 401/403 (RFC 6750 + RFC 9728 §5.1)."""
        parts = ['Bearer realm="gigstack-mcp"', f'resource_metadata="{self.metadata_url}"']
        if self.scopes:
            parts.append(f'scope="{" ".join(self.scopes)}"')
        if error:
            parts.append(f'error="{error}"')
        return ", ".join(parts)

    @property
    def secrets(self) -> list[str]:
        values = [self.client_secret.get_secret_value()] if self.client_secret else []
        return values + [c.api_key.get_secret_value() for c in self.accounts.values() if c.api_key]


NAMESPACES = ("sub", "client")  # which claim an account entry names: `sub` or `client_id`


def parse_accounts(text: str) -> dict[str, Credentials]:
    """`sub:NAME=api_key:teams` or `client:NAME=api_key:teams` entries, comma-separated: a `sub:` entry
    matches a token whose `sub` is NAME, a `client:` entry one without `sub` whose `client_id` is NAME
    (a client-credentials token), so a client can never pose as a user by choosing its id. `=:teams`
    keeps the server's own key; teams as for MCP tokens (`team`, `a|b`, `*`). `sub:*`, `client:*` and
    `*` (both) apply to callers not listed. Keys are `sub:NAME`, `client:NAME` or `*`."""
    accounts: dict[str, Credentials] = {}
    for raw in text.split(","):
        if not raw.strip():
            continue
        who, sep, rest = raw.strip().partition("=")
        who = who.strip()
        kind, colon, name = who.partition(":")
        if not sep or not (who == "*" or (colon and kind in NAMESPACES and name.strip())):
            raise OAuthConfigError(
                f"GIGSTACK_MCP_OAUTH_ACCOUNTS: bad entry {who[:40]!r}: each entry is sub:SUBJECT=api_key:team "
                "(a user's `sub`) or client:CLIENT_ID=api_key:team (a client-credentials token), "
                "or *=... for anyone else"
            )
        key, _, team = rest.partition(":")
        accounts[who if who == "*" else f"{kind}:{name.strip()}"] = Credentials.mapped(key.strip(), team)
    if not accounts:
        raise OAuthConfigError("GIGSTACK_MCP_OAUTH_ACCOUNTS maps no subject to a gigstack account")
    return accounts


def _caller(answer: dict[str, Any]) -> str | None:
    """`sub:<sub>` for a user's token, `client:<client_id>` for one without a subject."""
    sub, client = answer.get("sub"), answer.get("client_id")
    if isinstance(sub, str) and sub:
        return f"sub:{sub}"
    if isinstance(client, str) and client:
        return f"client:{client}"
    return None


def _principal(subject: str) -> str:
    # Subjects can be emails: log a stable digest, the same on every replica.
    return "oauth_" + hashlib.sha256(b"gigstack-mcp:oauth:" + subject.encode()).hexdigest()[:10]


def _audiences(answer: dict[str, Any]) -> list[str]:
    aud = answer.get("aud")
    return [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]


class Introspector:
    """Checks tokens with the authorization server (RFC 7662), caching accepted answers briefly so a
    conversation's calls cost one round trip, not one each."""

    def __init__(self, config: OAuthConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._http = http
        self._cache: OrderedDict[bytes, tuple[float, Grant]] = OrderedDict()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    def cached(self, token: str) -> Grant | None:
        """The accepted answer for this token if it is still fresh (no round trip)."""
        return self._fresh(hashlib.sha256(token.encode()).digest())

    def _fresh(self, digest: bytes) -> Grant | None:
        hit = self._cache.get(digest)
        return hit[1] if hit is not None and hit[0] > time.time() else None

    async def check(self, token: str) -> Grant | Refusal:
        digest = hashlib.sha256(token.encode()).digest()
        if (grant := self._fresh(digest)) is not None:
            return grant
        now = time.time()
        answer = await self._introspect(token)
        if isinstance(answer, Refusal):
            return answer
        outcome = self._judge(answer, now)
        if isinstance(outcome, Grant):
            exp = answer.get("exp")
            until = min(now + CACHE_SECONDS, exp if isinstance(exp, int | float) else now + CACHE_SECONDS)
            self._cache[digest] = (until, outcome)
            self._cache.move_to_end(digest)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return outcome

    async def _introspect(self, token: str) -> dict[str, Any] | Refusal:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=INTROSPECTION_TIMEOUT)
        auth = None
        if self.config.client_id:
            secret = self.config.client_secret.get_secret_value() if self.config.client_secret else ""
            auth = httpx.BasicAuth(self.config.client_id, secret)
        unavailable = Refusal(
            503, "temporarily_unavailable", "The authorization server did not answer; retry shortly."
        )
        try:
            response = await self._http.post(
                self.config.introspection_url,
                data={"token": token, "token_type_hint": "access_token"},
                headers={"Accept": "application/json"},
                auth=auth,
            )
        except httpx.HTTPError:
            return unavailable
        if response.status_code != 200:
            return unavailable  # our client credentials or the server are wrong: not the caller's fault
        try:
            answer = response.json()
        except ValueError:
            return unavailable
        return answer if isinstance(answer, dict) else unavailable

    def _judge(self, answer: dict[str, Any], now: float) -> Grant | Refusal:
        invalid = Refusal(
            401, "invalid_token", "The access token is not valid (inactive, expired or not ours)."
        )
        if answer.get("active") is not True:
            return invalid
        exp = answer.get("exp")
        if isinstance(exp, int | float) and exp <= now:
            return invalid
        # Issued for this resource (RFC 8707); a token without `aud` could be meant for any API.
        if self.config.resource not in {a.rstrip("/") for a in _audiences(answer)}:
            return invalid
        scopes = tuple(str(answer.get("scope") or "").split())
        if missing := [s for s in self.config.scopes if s not in scopes]:
            return Refusal(403, "insufficient_scope", f"The token lacks the scope {' '.join(missing)}.")
        caller = _caller(answer)
        if caller is None:
            return invalid
        accounts = self.config.accounts
        account = accounts.get(caller) or accounts.get(caller.split(":")[0] + ":*") or accounts.get("*")
        if account is None:
            return Refusal(403, "access_denied", "No gigstack account is mapped to this user.")
        return Grant(_principal(caller), account, scopes)
