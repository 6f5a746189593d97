"""The accepted MCP bearer tokens: each mapped server-side to its own gigstack API key and team, kept as
SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..context import Credentials
from ..settings import Settings
from .errors import HttpConfigError

MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class TokenEntry:
    """One accepted MCP token: its SHA-256 (compared in constant time), a principal that is safe to log
    and identical on every replica, and the gigstack credentials it maps to."""

    digest: bytes = field(repr=False)
    principal: str
    credentials: Credentials
    scopes: tuple[str, ...] = ()


class TokenMap:
    """The accepted MCP bearer tokens. An entry is `token`, `token=api_key` or `token=api_key:teams`
    (`token=:teams` keeps the server's own key). `teams` pins the token: `team_a`, or `team_a|team_b`
    (the first is the default), `|*` (or `*`) to allow any team (docs/http.md)."""

    def __init__(self, entries: Iterable[tuple[str, Credentials]] = ()) -> None:
        self.entries: list[TokenEntry] = []
        self._secrets: list[str] = []
        for token, creds in entries:
            digest = hashlib.sha256(token.encode()).digest()
            if any(hmac.compare_digest(digest, e.digest) for e in self.entries):
                raise HttpConfigError("the same MCP token is configured twice")
            principal = "tok_" + hashlib.sha256(b"gigstack-mcp:" + token.encode()).hexdigest()[:10]
            self.entries.append(TokenEntry(digest, principal, creds))
            self._secrets.append(token)
            if creds.api_key is not None:
                self._secrets.append(creds.api_key.get_secret_value())

    @staticmethod
    def parse(entry: str, where: str = "token") -> tuple[str, Credentials]:
        token, sep, rest = entry.strip().partition("=")
        token = token.strip()
        if len(token) < MIN_TOKEN_LENGTH or re.search(r"[\s,:]", token):
            raise HttpConfigError(
                f"{where}: an MCP token must be at least {MIN_TOKEN_LENGTH} characters without spaces, "
                "commas or colons (make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        key, _, team = rest.partition(":")
        return token, Credentials.mapped(key.strip(), team)

    @classmethod
    def load(cls, tokens: Iterable[str] = (), file: str | None = None) -> TokenMap:
        items = [cls.parse(t) for t in tokens if t.strip()]
        if file:
            try:
                lines = Path(file).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise HttpConfigError(f"cannot read the tokens file {file}: {exc.strerror}") from None
            for n, line in enumerate(lines, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    items.append(cls.parse(line, f"{file} line {n}"))
        return cls(items)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenMap:
        raw = settings.mcp_auth_tokens.get_secret_value() if settings.mcp_auth_tokens else ""
        return cls.load(raw.split(","), settings.mcp_auth_tokens_file)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, presented: str) -> TokenEntry | None:
        """The entry for this token, comparing against every configured token (no early exit)."""
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry
        return found

    @property
    def secrets(self) -> list[str]:
        return list(self._secrets)
