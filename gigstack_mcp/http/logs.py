"""Logging for the HTTP transport: one JSON object per line, every configured secret redacted, session
ids cut short, and the chatty libraries' records that would carry tool results or queries dropped."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import IO, Any

from ..context import SANDBOX_KEY
from ..oauth import OAuthConfig, OAuthConfigError
from ..settings import Settings
from .tokens import TokenMap

access_log = logging.getLogger("gigstack_mcp.http.access")


class RedactSecrets(logging.Filter):
    """Replaces every configured secret (MCP tokens, gigstack API keys, the confirm secret) in a
    record's message, arguments, structured fields and traceback. Attach it to the handler."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: self.redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


_SESSION_HEX = re.compile(r"\b([0-9a-f]{8})[0-9a-f]{24}\b")  # the SDK's session ids (uuid4 hex)
_SESSION_AFTER = re.compile(r"(?i)(\bsession(?: id)?:?\s+)([^\s:,]{8})[^\s:,]+")  # any id a client sent
# Below WARNING these log whole event-stream chunks (tool results) and gigstack URLs with their query
# (a search for a customer's name).
_CHATTY = ("sse_starlette", "httpx", "httpcore")
_TOOL_FAILED = "Tool %r failed: %r"  # the SDK's INFO line for a tool error, with the error's whole text


class LogHygiene(logging.Filter):
    """What the SDK and its libraries log through our handler, made safe: session ids cut to their first 8
    characters (like the access log), a tool error's text left out (it quotes gigstack data), and the
    INFO/DEBUG records of sse_starlette, httpx and httpcore dropped (event-stream chunks are whole tool
    results; request lines carry search queries). Attach it to the handler before RedactSecrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.name or "").startswith(_CHATTY) and record.levelno < logging.WARNING:
            return False
        if record.msg == _TOOL_FAILED and isinstance(record.args, tuple) and record.args:
            record.msg, record.args = (
                "Tool %r failed (its error text went to the client, not to the log)",
                (record.args[0],),
            )
        record.msg, record.args = _cut_session_ids(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _cut_session_ids(record.exc_text)
        return True


def _cut_session_ids(text: str) -> str:
    return _SESSION_AFTER.sub(r"\1\2…", _SESSION_HEX.sub(r"\1…", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the record's `fields`, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def json_log_handler(secrets: Iterable[str], stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogHygiene())
    handler.addFilter(RedactSecrets(secrets))
    return handler


def all_secrets(settings: Settings, tokens: TokenMap) -> list[str]:
    # a Redis URL may hold a password
    configured = (settings.api_key, settings.confirm_secret, settings.mcp_redis_url)
    values = [s.get_secret_value() for s in configured if s is not None]
    values.append(SANDBOX_KEY)  # the embedded sandbox's random key
    try:
        oauth = OAuthConfig.from_settings(settings)
    except OAuthConfigError:
        oauth = None
    return values + tokens.secrets + (oauth.secrets if oauth else [])
