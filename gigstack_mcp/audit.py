"""Audit trail: every write and every refusal as one JSON line, chained so an edit shows.

Each record carries `seq` (1, 2, 3 … across rotations), `prev` (the previous record's `hash`; the very
first record of a trail has 64 zeros) and its own `hash`: SHA-256 over the record's canonical JSON without
`hash`, or HMAC-SHA-256 with `GIGSTACK_AUDIT_KEY` so that someone who can write the file but does not hold
the key cannot forge a consistent chain. `verify` recomputes every hash and link and names the first
record that does not fit: an edited record breaks its own hash, a deleted or reordered one breaks `seq`
and `prev`.

Rotation renames the file to `PATH.<n>` and the new file goes on with the next `seq` and the last `hash`,
so `verify PATH.1 PATH` checks the whole trail across files. What a chain cannot show by itself is a
cut tail (the newest records removed): compare the last `seq`/`hash` with an anchor kept elsewhere (the
`audit_head` line the server logs at every rotation and at shutdown).

Arguments are redacted by a declared field policy before they are written (`REDACT`): secrets dropped,
identifying data (RFC, email, phone, names, address) replaced by a short keyed hash so a summary can still
tell two receivers apart, and RFC- or email-shaped text inside free-text fields masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from . import clock
from .sat import RFC_IN_TEXT

GENESIS = "0" * 64
MEXICO = clock.MEXICO
Fsync = Literal["always", "interval", "never"]

# -- redaction ----------------------------------------------------------------------------------------

Action = Literal["drop", "hash", "keep"]
# Field names (at any depth) and what is written for them. Anything not named is kept, after masking
# RFC- and email-shaped text in strings.
REDACT: dict[str, Action] = {
    # secrets: never written, not even hashed
    "api_key": "drop",
    "password": "drop",
    "confirmation_token": "drop",
    "token": "drop",
    "authorization": "drop",
    # who the receiver is: hashed (same value, same hash in one trail), never in clear
    "tax_id": "hash",
    "rfc": "hash",
    "foreign_tax_id": "hash",
    "email": "hash",
    "emails": "hash",
    "bcc": "hash",
    "phone": "hash",
    "name": "hash",
    "legal_name": "hash",
    "company": "hash",
    "address": "hash",
    "street": "hash",
}
MAX_TEXT = 300  # characters of one string kept in a record
# Tried only where a word starts (the lookbehind): the same leftmost matches, but linear on a long word
# without "@" (unanchored, every position rescanned to the word's end: minutes for 600 KB of text).
_EMAIL_TEXT = re.compile(r"(?<![^\s@<>\"'])[^\s@<>\"']+@[^\s@<>\"']+\.[^\s@<>\"']+")


def _digest(key: bytes, value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    return "h:" + hmac.new(key, text, hashlib.sha256).hexdigest()[:12]


def _utf8(text: str) -> str:
    """`text` as UTF-8 can hold it: a lone surrogate (e.g. "\\ud800" in JSON arguments) becomes "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _loggable(value: Any) -> Any:
    if isinstance(value, dict):
        return {_loggable(k): _loggable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_loggable(v) for v in value]
    return _utf8(value) if isinstance(value, str) else value


def redact(value: Any, key: bytes = b"", policy: dict[str, Action] = REDACT) -> Any:
    """A copy of `value` fit for the audit log under `policy` (field names are matched case-insensitively)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            action = policy.get(str(k).lower(), "keep")
            if action == "drop":
                continue
            out[k] = _digest(key, v) if action == "hash" and v is not None else redact(v, key, policy)
        return out
    if isinstance(value, list):
        return [redact(v, key, policy) for v in value]
    if isinstance(value, str):
        # Cut first: the masks are regular expressions, and a record is no place for a long text anyway.
        text = value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + f"…(+{len(value) - MAX_TEXT} chars)"
        return _EMAIL_TEXT.sub("[email]", RFC_IN_TEXT.sub("[rfc]", _utf8(text)))
    return value


# -- records ------------------------------------------------------------------------------------------


def _canonical(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def record_hash(record: dict[str, Any], key: bytes = b"") -> str:
    if key:
        return hmac.new(key, _canonical(record), hashlib.sha256).hexdigest()
    return hashlib.sha256(_canonical(record)).hexdigest()


def _last_record(path: Path) -> dict[str, Any] | None:
    """The last complete line of `path` (read from the end: trails grow large)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            chunk, pos = b"", end
            while pos > 0:
                step = min(65536, pos)
                pos -= step
                f.seek(pos)
                chunk = f.read(step) + chunk
                lines = [line for line in chunk.split(b"\n") if line.strip()]
                if len(lines) > 1 or (lines and pos == 0):
                    return json.loads(lines[-1])
    except FileNotFoundError:
        return None
    return None


class AuditLog:
    """Appends chained records to one file (one file per process: replicas each write their own)."""

    def __init__(
        self,
        path: str | Path | None,
        *,
        key: bytes = b"",
        fsync: Fsync = "interval",
        fsync_interval: float = 1.0,
        max_bytes: int = 100 * 1024 * 1024,
        clock: Callable[[], dt.datetime] = clock.now,
        stream: IO[str] | None = None,
    ) -> None:
        """`path` None writes to `stream` (stderr by default), which is not rotated."""
        self.path = Path(path) if path else None
        self.key, self.fsync, self.fsync_interval, self.max_bytes = key, fsync, fsync_interval, max_bytes
        self.clock = clock
        self._lock = threading.Lock()
        self._stream = stream
        self._file: IO[str] | None = None
        self._last_sync = 0.0
        last = _last_record(self.path) if self.path else None
        self.seq = int(last["seq"]) if last else 0
        self.head = str(last["hash"]) if last else GENESIS

    def _open(self) -> IO[str]:
        if self._file is None:
            if self.path is None:
                import sys

                self._file = self._stream or sys.stderr
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
        return self._file

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Write one record (`event` plus ts, seq, prev, hash) and return it."""
        with self._lock:
            now = self.clock()
            event = _loggable(event)  # every string writable (and hashed) as UTF-8
            record = {"ts": now.isoformat(timespec="milliseconds"), "seq": self.seq + 1, **event}
            record["prev"] = self.head
            record["hash"] = record_hash(record, self.key)
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
            f = self._open()
            f.write(line + "\n")
            f.flush()
            self.seq, self.head = record["seq"], record["hash"]
            self._sync(now.timestamp())
            if self.path is not None and f.tell() >= self.max_bytes:
                self._rotate()
            return record

    def _sync(self, now: float) -> None:
        if self.path is None or self.fsync == "never":
            return
        if self.fsync == "always" or now - self._last_sync >= self.fsync_interval:
            os.fsync(self._open().fileno())
            self._last_sync = now

    def _rotate(self) -> None:
        """PATH -> PATH.1 (older ones shift up); the chain goes on in a new PATH."""
        assert self.path is not None and self._file is not None
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        n = 1
        while self.path.with_name(f"{self.path.name}.{n}").exists():
            n += 1
        for i in range(n, 1, -1):
            self.path.with_name(f"{self.path.name}.{i - 1}").rename(
                self.path.with_name(f"{self.path.name}.{i}")
            )
        self.path.rename(self.path.with_name(f"{self.path.name}.1"))

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self.path is not None:
                os.fsync(self._file.fileno())
                self._file.close()
            self._file = None


# -- reading: verify and summary ---------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    file: str
    line: int
    seq: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line} (seq {self.seq}): {self.reason}"


def _records(files: Iterable[str | Path]) -> Iterator[tuple[str, int, dict[str, Any] | str]]:
    for file in files:
        with Path(file).open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield str(file), n, json.loads(line)
                except json.JSONDecodeError:
                    yield str(file), n, line


def verify(files: Iterable[str | Path], key: bytes = b"") -> tuple[int, Break | None]:
    """(records checked, the first break or None). Give rotated files oldest first (PATH.2 PATH.1 PATH);
    a trail that starts after a rotation whose older files are gone starts from its first record's link."""
    expected_prev: str | None = None
    expected_seq: int | None = None
    count = 0
    for file, n, rec in _records(files):
        if not isinstance(rec, dict):
            return count, Break(file, n, "?", "not a JSON record")
        seq = rec.get("seq")
        if rec.get("hash") != record_hash(rec, key):
            return count, Break(file, n, seq, "its hash does not match its contents: the record was edited")
        if expected_seq is None:
            expected_prev, expected_seq = rec.get("prev"), seq
        if seq != expected_seq:
            why = (
                "records are missing before it"
                if isinstance(seq, int) and seq > expected_seq
                else "out of order"
            )
            return count, Break(file, n, seq, f"expected seq {expected_seq}: {why}")
        if rec.get("prev") != expected_prev:
            return count, Break(
                file, n, seq, "it does not link to the record before it (deleted or reordered)"
            )
        expected_prev, expected_seq = rec["hash"], seq + 1
        count += 1
    return count, None


def _mx_day(ts: str) -> str:
    return dt.datetime.fromisoformat(ts).astimezone(MEXICO).date().isoformat()


# What counts in a summary (tool names as in tools/).
STAMPS = frozenset({"create_income_invoice", "create_egress_invoice", "stamp_receipt", "register_payment"})
INVOICED = frozenset({"create_income_invoice", "stamp_receipt"})
CANCELS = frozenset({"cancel_invoice", "cancel_receipt"})


def summary(files: Iterable[str | Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (principal, Mexico day): stamped, invoiced_mxn, refunded_mxn, cancelled, refused, unknown."""
    out: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "stamped": 0,
            "invoiced_mxn": 0.0,
            "refunded_mxn": 0.0,
            "cancelled": 0,
            "refused": 0,
            "unknown": 0,
        }
    )
    for _file, _n, rec in _records(files):
        if not isinstance(rec, dict) or "tool" not in rec:
            continue
        row = out[(rec.get("principal") or "local", _mx_day(rec["ts"]))]
        outcome, tool, mxn = rec.get("outcome"), rec["tool"], (rec.get("amount") or {}).get("mxn") or 0
        if outcome == "refused":
            row["refused"] += 1
        elif outcome == "unknown":
            row["unknown"] += 1
        elif outcome == "done":
            if tool in STAMPS:
                row["stamped"] += 1
            if tool in INVOICED:
                row["invoiced_mxn"] += mxn
            if tool == "refund_payment":
                row["refunded_mxn"] += mxn
            if tool in CANCELS:
                row["cancelled"] += 1
    return dict(out)


def format_summary(rows: dict[tuple[str, str], dict[str, Any]]) -> str:
    head = "principal        day         stamped  invoiced MXN  refunded MXN  cancelled  refused  unknown"
    lines = [head]
    for (principal, day), r in sorted(rows.items()):
        lines.append(
            f"{principal:<16} {day}  {r['stamped']:>7}  {r['invoiced_mxn']:>12,.2f}  {r['refunded_mxn']:>12,.2f}"
            f"  {r['cancelled']:>9}  {r['refused']:>7}  {r['unknown']:>7}"
        )
    return "\n".join(lines)
