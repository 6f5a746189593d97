"""The one clock behind every date and time the user sees: now in UTC, and today in Mexico (CFDI dates,
date filters and SAT deadlines are Mexico dates, whatever zone the server runs in).

Tests freeze it (`with frozen("2026-05-14T18:00:00Z") as clock: clock.advance(seconds=61)`) instead of
depending on the hour they run at. Elapsed-time measurements (timeouts, rate limits) use
`time.monotonic()` directly: they are not dates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MEXICO = ZoneInfo("America/Mexico_City")


class FrozenClock:
    """A clock that stands still until told to move."""

    def __init__(self, at: datetime | str) -> None:
        self.at = _aware(at)

    def set(self, at: datetime | str) -> None:
        self.at = _aware(at)

    def advance(self, **delta: float) -> None:
        """`advance(seconds=61)`, `advance(days=1)`: any `timedelta` keyword."""
        self.at += timedelta(**delta)


_frozen: FrozenClock | None = None  # global, not a ContextVar: the sandbox's thread must see it too


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return _frozen.at if _frozen is not None else datetime.now(UTC)


def unix() -> int:
    """The current instant in unix seconds."""
    return int(now().timestamp())


def today_mx() -> date:
    """Today's date in Mexico City (at 00:30 UTC it is still yesterday there)."""
    return now().astimezone(MEXICO).date()


def mexico_day(day: date) -> tuple[int, int]:
    """The first and the last unix second of `day` in Mexico City: what a date filter the user gave
    (a Mexico date) means to gigstack's `created[gte]`/`created[lte]`."""
    start = datetime.combine(day, time.min, MEXICO)
    end = datetime.combine(day + timedelta(days=1), time.min, MEXICO)
    return int(start.timestamp()), int(end.timestamp()) - 1


@contextmanager
def frozen(at: datetime | str) -> Iterator[FrozenClock]:
    """Stop the clock at `at` (an aware datetime or ISO 8601 text with its offset) inside the block."""
    global _frozen
    previous, _frozen = _frozen, FrozenClock(at)
    try:
        yield _frozen
    finally:
        _frozen = previous


def _aware(at: datetime | str) -> datetime:
    value = datetime.fromisoformat(at) if isinstance(at, str) else at
    if value.tzinfo is None:
        raise ValueError(f"a frozen clock needs a time zone, got {at!r}")
    return value.astimezone(UTC)
