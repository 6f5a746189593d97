"""gigstack API v2 client: one pooled async client, typed errors, retries, idempotency, pagination."""

from ._client import BODY_IDEMPOTENCY_PATHS, GigstackClient, new_idempotency_key
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GigstackError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
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
    "GigstackClient",
    "GigstackError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
    "new_idempotency_key",
]
