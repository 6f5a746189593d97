"""Audit-log text that broke the tool call being audited (found by tests/test_fuzz.py once
get_client_statement joined the tool list and the fuzz draws moved): a lone surrogate in an argument
("\ud800" is valid JSON) crashed the record's hashing and writing, and the e-mail pattern rescanned a
long word without "@" from every position (minutes for 600 KB)."""

from __future__ import annotations

import datetime as dt
import json
import re

from gigstack_mcp import audit

OLD_EMAIL = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+\.[^\s@<>\"']+")  # the unanchored pattern it replaced


def test_a_lone_surrogate_is_logged_not_raised(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = audit.AuditLog(path, clock=lambda: dt.datetime(2026, 11, 25, tzinfo=dt.UTC), fsync="never")
    log.append(
        {"tool": "update_team_series", "targets": {"id": "\ud800"}, "args": audit.redact({"memo": "a\ud800"})}
    )
    [line] = path.read_text("utf-8").splitlines()
    record = json.loads(line)
    assert record["targets"] == {"id": "?"} and record["args"] == {"memo": "a?"}
    assert audit.verify([path])[1] is None  # the hash chain still checks


def test_email_redaction_is_unchanged_and_linear():
    samples = [
        "escribe a juan.perez@example.com o (ana@x.mx), no a@b",
        "x@y@z.com y pagos@acme.com.mx",
        "sin correo",
    ]
    for text in samples:
        assert audit._EMAIL_TEXT.sub("[email]", text) == OLD_EMAIL.sub("[email]", text)
    long_word = "Ñ" * 600_000  # took minutes before; a linear scan takes milliseconds
    assert audit._EMAIL_TEXT.sub("[email]", long_word) == long_word
    assert audit.redact(long_word) == "Ñ" * audit.MAX_TEXT + f"…(+{600_000 - audit.MAX_TEXT} chars)"
