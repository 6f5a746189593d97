"""The audit trail file: chain, tamper detection, rotation, redaction, summary, and the `audit` command.

These drive `gigstack_mcp.audit` and the real `gigstack-mcp audit` process on files it wrote; the server
writing the trail during tool calls is tested in tests/test_audit_server.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gigstack_mcp import audit

T0 = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.UTC)  # 21:00 on the 29th in Mexico City


class Clock:
    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def write(path: Path, n: int, **kw) -> audit.AuditLog:
    log = audit.AuditLog(path, clock=Clock(), fsync="never", **kw)
    for i in range(n):
        log.append(
            {
                "principal": "tok_a",
                "tool": "create_income_invoice",
                "outcome": "done",
                "amount": {"mxn": 100.0 + i},
            }
        )
    log.close()
    return log


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gigstack_mcp", "audit", *args], capture_output=True, text=True, timeout=60
    )


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_an_untouched_trail_verifies(tmp_path):
    path = tmp_path / "audit.jsonl"
    write(path, 5)
    count, broken = audit.verify([path])
    assert (count, broken) == (5, None)
    first, last = json.loads(lines(path)[0]), json.loads(lines(path)[-1])
    assert first["prev"] == audit.GENESIS and first["seq"] == 1 and last["seq"] == 5
    run = cli("verify", str(path))
    assert run.returncode == 0 and "OK: 5 records" in run.stdout


def test_an_edited_record_is_named(tmp_path):
    path = tmp_path / "audit.jsonl"
    write(path, 5)
    rows = lines(path)
    rows[2] = rows[2].replace('"mxn":102.0', '"mxn":2.0')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    count, broken = audit.verify([path])
    assert count == 2 and broken is not None and broken.line == 3 and "edited" in broken.reason
    run = cli("verify", str(path))
    assert run.returncode == 1 and "line 3" in run.stdout


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(tmp_path):
    path = tmp_path / "audit.jsonl"
    write(path, 4)
    rows = [json.loads(r) for r in lines(path)]
    rows[1]["amount"]["mxn"] = 1.0
    rows[1]["hash"] = audit.record_hash(rows[1])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _, broken = audit.verify([path])
    assert broken is not None and broken.line == 3 and "link" in broken.reason


def test_with_a_key_a_recomputed_plain_hash_is_refused(tmp_path):
    path = tmp_path / "audit.jsonl"
    write(path, 3, key=b"k" * 32)
    assert audit.verify([path], b"k" * 32) == (3, None)
    rows = [json.loads(r) for r in lines(path)]
    rows[2]["amount"]["mxn"] = 1.0
    rows[2]["hash"] = audit.record_hash(rows[2])  # no key: what someone without it can compute
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _, broken = audit.verify([path], b"k" * 32)
    assert broken is not None and broken.line == 3
    env_run = subprocess.run(
        [sys.executable, "-m", "gigstack_mcp", "audit", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GIGSTACK_AUDIT_KEY": "k" * 32},
    )
    assert env_run.returncode == 1


def test_a_deleted_record_is_found(tmp_path):
    path = tmp_path / "audit.jsonl"
    write(path, 5)
    rows = lines(path)
    del rows[1]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    _, broken = audit.verify([path])
    assert broken is not None and broken.line == 2 and "missing" in broken.reason


def test_reordered_records_are_found(tmp_path):
    path = tmp_path / "audit.jsonl"
    write(path, 5)
    rows = lines(path)
    rows[1], rows[2] = rows[2], rows[1]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    _, broken = audit.verify([path])
    assert broken is not None and broken.line == 2


def test_rotation_keeps_the_chain_across_files(tmp_path):
    path = tmp_path / "audit.jsonl"
    write(path, 40, max_bytes=2_000)
    files = sorted(tmp_path.glob("audit.jsonl.*"), key=lambda p: -int(p.suffix[1:])) + [path]
    assert len(files) >= 3
    assert audit.verify(files) == (40, None)
    run = cli("verify", *map(str, files))
    assert run.returncode == 0, run.stdout
    # One rotated file lost from the middle: the trail no longer links.
    _, broken = audit.verify([files[0], *files[2:]])
    assert broken is not None and "missing" in broken.reason


def test_a_reopened_trail_goes_on_from_its_last_record(tmp_path):
    path = tmp_path / "audit.jsonl"
    write(path, 3)
    log = write(path, 2)
    assert log.seq == 5
    assert audit.verify([path]) == (5, None)


def test_redaction_hashes_identities_drops_secrets_and_masks_free_text():
    args = {
        "client": {
            "tax_id": "EKU9003173C9",
            "email": "ana@example.com",
            "legal_name": "ESCUELA KEMPER URGATE",
        },
        "api_key": "sk_live_secret",
        "confirmation_token": "123.abc",
        "items": [{"description": "Consultoría para EKU9003173C9, avisar a ana@example.com", "quantity": 1}],
        "total": 116.0,
    }
    out = audit.redact(args, b"key")
    text = json.dumps(out)
    assert "EKU9003173C9" not in text and "ana@example.com" not in text and "KEMPER" not in text
    assert "sk_live_secret" not in text and "confirmation_token" not in text and "api_key" not in text
    assert out["total"] == 116.0 and out["items"][0]["quantity"] == 1
    assert out["items"][0]["description"] == "Consultoría para [rfc], avisar a [email]"
    # Same receiver, same hash: a summary can still count per receiver without the RFC.
    assert out["client"]["tax_id"] == audit.redact({"tax_id": "EKU9003173C9"}, b"key")["tax_id"]
    assert out["client"]["tax_id"] != audit.redact({"tax_id": "EKU9003173C9"}, b"other")["tax_id"]


def test_summary_counts_per_principal_and_mexico_day(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = audit.AuditLog(path, clock=Clock(), fsync="never")
    for rec in (
        {"principal": "tok_a", "tool": "create_income_invoice", "outcome": "done", "amount": {"mxn": 1160.0}},
        {"principal": "tok_a", "tool": "refund_payment", "outcome": "done", "amount": {"mxn": 100.0}},
        {"principal": "tok_a", "tool": "cancel_invoice", "outcome": "done"},
        {"principal": "tok_a", "tool": "create_income_invoice", "outcome": "refused", "rule": "USO-CATALOG"},
        {
            "principal": "tok_b",
            "tool": "create_income_invoice",
            "outcome": "unknown",
            "amount": {"mxn": 50.0},
        },
    ):
        log.append(rec)
    log.close()
    rows = audit.summary([path])
    # 03:00 UTC on the 30th is still the 29th in Mexico City.
    a = rows[("tok_a", "2026-11-29")]
    assert a == {
        "stamped": 1,
        "invoiced_mxn": 1160.0,
        "refunded_mxn": 100.0,
        "cancelled": 1,
        "refused": 1,
        "unknown": 0,
    }
    assert rows[("tok_b", "2026-11-29")]["unknown"] == 1
    run = cli("summary", str(path))
    assert run.returncode == 0 and "tok_a" in run.stdout and "1,160.00" in run.stdout


def test_verify_of_a_missing_file_says_so():
    run = cli("verify", "/nonexistent/audit.jsonl")
    assert run.returncode == 2 and "cannot read" in run.stderr


@pytest.mark.parametrize("fsync", ["always", "interval", "never"])
def test_every_fsync_policy_writes_a_verifiable_trail(tmp_path, fsync):
    path = tmp_path / "audit.jsonl"
    log = audit.AuditLog(path, clock=Clock(), fsync=fsync)  # type: ignore[arg-type]
    for _ in range(3):
        log.append({"tool": "create_client", "outcome": "done"})
    log.close()
    assert audit.verify([path]) == (3, None)
