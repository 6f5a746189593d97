"""gigstack API v2 client: one pooled async client, typed errors, retries, idempotency, pagination."""

from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DownloadError,
    GigstackError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseRefused,
    UnprocessableEntityError,
)

__all__ = [
    "BODY_IDEMPOTENCY_PATHS",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DownloadError",
    "GigstackClient",
    "GigstackError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseRefused",
    "UnprocessableEntityError",
    "new_idempotency_key",
]


def __getattr__(name: str):  # PEP 562: httpx and stamina load on first use, not at server start-up
    if name in {"BODY_IDEMPOTENCY_PATHS", "GigstackClient", "new_idempotency_key"}:
        from . import _client

        return getattr(_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
