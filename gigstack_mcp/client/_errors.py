"""Errors raised by the gigstack client.

    GigstackError
    ├── APIConnectionError          no usable answer (refused, reset, malformed body)
    │   ├── APITimeoutError
    │   └── ResponseRefused         an answer over the size or nesting limit (not read, not retried)
    ├── DownloadError               a file link not fetched (host, scheme, redirect) or that failed
    └── APIStatusError              gigstack answered with an error envelope
        ├── BadRequestError (400)   ├── AuthenticationError (401)  ├── PermissionDeniedError (403)
        ├── NotFoundError (404)     ├── ConflictError (409)         ├── UnprocessableEntityError (422)
        ├── RateLimitError (429)    └── InternalServerError (5xx)

Messages never contain the API key: they are built from the method, path and gigstack's own text.
"""

from __future__ import annotations

from typing import Any, Literal

# "unknown": a write may have happened (retries ran out after the request was sent).
Outcome = Literal["not_applied", "unknown"]


class GigstackError(Exception):
    """Base class of every error the client raises.

    `idempotency_key`: the key a POST carried (a retry with it never applies the write twice).
    `after_uncertain`: an earlier attempt of this call failed after the request may have reached
    gigstack (timeout, 5xx, dropped answer), so a 404/409 now may mean that attempt already did it."""

    outcome: Outcome = "not_applied"
    idempotency_key: str | None = None
    after_uncertain: bool = False

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path


class APIConnectionError(GigstackError):
    """gigstack could not be reached, or its answer could not be read."""

    def __init__(
        self, message: str, *, method: str = "", path: str = "", outcome: Outcome = "unknown"
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.outcome = outcome


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class ResponseRefused(APIConnectionError):
    """gigstack's answer broke a limit (size, JSON nesting): refused without reading it whole."""


class DownloadError(GigstackError):
    """A file link outside the allowed file hosts, a redirect (never followed), or a failed download."""


class APIStatusError(GigstackError):
    """gigstack answered with an HTTP error status and its `{message, error}` envelope."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        error: Any = None,
        code: str | None = None,
        details: list[Any] | None = None,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
        outcome: Outcome = "not_applied",
    ) -> None:
        text = f"{message}: {error}" if isinstance(error, str) and error and error != message else message
        super().__init__(text, method=method, path=path)
        self.status_code = status_code
        self.api_message = message
        self.error = error
        self.code = code
        self.details = details or []
        self.retry_after = retry_after
        self.outcome = outcome

    def __str__(self) -> str:
        extra = f" ({'; '.join(map(str, self.details))})" if self.details else ""
        return f"gigstack {self.status_code} on {self.method} {self.path}: {self.message}{extra}"


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class(status_code: int) -> type[APIStatusError]:
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)


def parse_error_body(body: Any, status_code: int) -> tuple[str, Any, str | None, list[Any]]:
    """Read both error shapes gigstack uses: `{message, error: str}` and
    `{success: false, error: {code, message, details}}`. Returns (message, error, code, details)."""
    if not isinstance(body, dict):
        return f"HTTP {status_code}", None, None, []
    err = body.get("error")
    if isinstance(err, dict):
        message = str(err.get("message") or body.get("message") or f"HTTP {status_code}")
        details = err.get("details") or []
        return (
            message,
            err.get("message"),
            err.get("code"),
            details if isinstance(details, list) else [details],
        )
    message = str(body.get("message") or (err if isinstance(err, str) else None) or f"HTTP {status_code}")
    code = body.get("code") if isinstance(body.get("code"), str) else None
    details = body.get("details") if isinstance(body.get("details"), list) else []
    return message, err, code, details
