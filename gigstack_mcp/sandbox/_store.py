"""Sandbox state: JSON documents in SQLite (in memory by default, a file with --db), scoped by team."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

Doc = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  team TEXT NOT NULL, coll TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
  UNIQUE (team, coll, id)
);
CREATE TABLE IF NOT EXISTS idempotency (
  team TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (team, scope, key)
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class Store:
    """A tiny document store. One lock: the sandbox is for demos and tests, not for throughput."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or ":memory:"
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    # -- documents --------------------------------------------------------------------------------
    def put(self, team: str, coll: str, doc: Doc, id_field: str = "id") -> Doc:
        with self._lock:
            self._db.execute(
                "INSERT INTO docs (team, coll, id, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (team, coll, id) DO UPDATE SET body = excluded.body",
                (team, coll, doc[id_field], json.dumps(doc, ensure_ascii=False)),
            )
        return doc

    def get(self, team: str, coll: str, id: str) -> Doc | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM docs WHERE team = ? AND coll = ? AND id = ?", (team, coll, id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def delete(self, team: str, coll: str, id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM docs WHERE team = ? AND coll = ? AND id = ?", (team, coll, id)
            )
        return cur.rowcount > 0

    def all(self, team: str, coll: str) -> list[tuple[int, Doc]]:
        """(seq, doc) oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM docs WHERE team = ? AND coll = ? ORDER BY seq", (team, coll)
            ).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def find(self, team: str, coll: str, pred: Callable[[Doc], bool]) -> list[Doc]:
        return [d for _, d in self.all(team, coll) if pred(d)]

    def count(self, team: str | None = None, coll: str | None = None) -> int:
        q, args = "SELECT COUNT(*) FROM docs WHERE 1=1", []
        if team:
            q, args = q + " AND team = ?", [*args, team]
        if coll:
            q, args = q + " AND coll = ?", [*args, coll]
        with self._lock:
            return self._db.execute(q, args).fetchone()[0]

    def teams(self) -> Iterable[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT team FROM docs")]

    # -- idempotency ------------------------------------------------------------------------------
    def idem_get(self, team: str, scope: str, key: str) -> tuple[int, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status, body FROM idempotency WHERE team = ? AND scope = ? AND key = ?",
                (team, scope, key),
            ).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def idem_put(self, team: str, scope: str, key: str, status: int, body: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                (team, scope, key, status, json.dumps(body, ensure_ascii=False)),
            )

    # -- meta (counters such as folios) -------------------------------------------------------------
    def next_counter(self, name: str, start: int = 1) -> int:
        with self._lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = ?", (name,)).fetchone()
            value = int(row[0]) if row else start
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, str(value + 1)))
        return value

    def is_seeded(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM meta WHERE k = 'seeded'").fetchone() is not None

    def mark_seeded(self) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', '1')")
