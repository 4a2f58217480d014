"""A durable local spool for records that could not be delivered in time.

One SQLite database (``spool.sqlite3``, WAL journal) in the configured directory. SQLite
rather than JSON Lines because several processes of one application (Django under gunicorn
or uWSGI) share the directory: inserts are atomic, and a replaying process *leases* the rows
it is sending, so two processes do not replay the same rows at once. A lease that is not
settled (the process died mid-replay) expires after ``lease_seconds`` and the rows are
replayed by whoever comes next.

Rows hold the exact bytes the contract produced (key, value, headers), so a replay sends the
same record and needs no validation or serialization.

Fork: SQLite keeps a process's file-lock bookkeeping in memory, shared by its connections,
and a forked child inherits it; a child forked while another thread of the parent was in
the middle of a statement would wait on a lock nobody in the child holds (for the full busy
timeout). So a fork waits until no spool of the process is in a statement (the
``os.register_at_fork`` hooks below), and a child opens its own connection.

Rows whose delivery failed for a reason retrying cannot fix (e.g. larger than the broker
accepts) are moved to the ``rejected`` table with the error, instead of being retried for
ever; nothing is deleted from there by this library.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from document_exceptions.record import Record

SPOOL_FILE = "spool.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    spooled_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_lease ON records (lease_until, id);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    spooled_at REAL NOT NULL,
    rejected_at REAL NOT NULL,
    error TEXT NOT NULL
);
"""


# The spool's name for the one record type (rows hold exactly what the contract prepared).
WireRecord = Record


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """A record read back from the spool, with its row id."""

    row_id: int
    record: WireRecord
    attempts: int


def _encode_headers(headers: Iterable[tuple[str, bytes]]) -> str:
    return json.dumps([[name, base64.b64encode(value).decode("ascii")] for name, value in headers])


def _decode_headers(text: str) -> list[tuple[str, bytes]]:
    return [(name, base64.b64decode(value)) for name, value in json.loads(text)]


class Spool:
    """The spool database in ``directory``; safe to use from several threads and processes."""

    def __init__(self, directory: str | os.PathLike[str], lease_seconds: float = 60.0) -> None:
        self.directory = Path(directory)
        self.path = self.directory / SPOOL_FILE
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._db()
        _open_spools.add(self)

    def _db(self) -> sqlite3.Connection:
        """This process's connection (a connection inherited through fork is never reused)."""
        if self._connection is None or self._pid != os.getpid():
            connection = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(SCHEMA)
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def put(self, records: Sequence[WireRecord], *, leased: bool = False) -> list[int]:
        """Store ``records`` durably (one transaction); return their row ids.

        ``leased`` rows start out leased to the caller (a delivery attempt is still open).
        """
        if not records:
            return []
        now = time.time()
        lease_until = now + self.lease_seconds if leased else 0.0
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    int(
                        db.execute(
                            "INSERT INTO records (key, value, headers, spooled_at, lease_until)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (r.key, r.value, _encode_headers(r.headers), now, lease_until),
                        ).lastrowid
                    )
                    for r in records
                ]
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return ids

    def claim(self, limit: int) -> list[SpooledRecord]:
        """Lease up to ``limit`` of the oldest unleased rows to this caller for replay."""
        now = time.time()
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT id, key, value, headers, attempts FROM records"
                    " WHERE lease_until <= ? ORDER BY id LIMIT ?",
                    (now, limit),
                ).fetchall()
                db.executemany(
                    "UPDATE records SET lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                    [(now + self.lease_seconds, row[0]) for row in rows],
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return [
            SpooledRecord(row[0], WireRecord(row[1], row[2], _decode_headers(row[3])), row[4] + 1)
            for row in rows
        ]

    def delete(self, row_ids: Iterable[int]) -> int:
        """Forget delivered rows; returns how many were still there."""
        return self._executemany("DELETE FROM records WHERE id = ?", [(i,) for i in row_ids])

    def release(self, row_ids: Iterable[int]) -> int:
        """End the lease of rows that were not delivered, so they are replayed later."""
        return self._executemany(
            "UPDATE records SET lease_until = 0 WHERE id = ?", [(i,) for i in row_ids]
        )

    def reject(self, row_id: int, error: str) -> None:
        """Move a row that can never be delivered to the ``rejected`` table."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT OR REPLACE INTO rejected"
                    " (id, key, value, headers, spooled_at, rejected_at, error)"
                    " SELECT id, key, value, headers, spooled_at, ?, ? FROM records WHERE id = ?",
                    (time.time(), error, row_id),
                )
                db.execute("DELETE FROM records WHERE id = ?", (row_id,))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _executemany(self, sql: str, parameters: list[tuple[int]]) -> int:
        if not parameters:
            return 0
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                changed = sum(db.execute(sql, p).rowcount for p in parameters)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return changed

    def count(self) -> int:
        """Rows waiting to be replayed (leased ones included)."""
        with self._lock:
            return int(self._db().execute("SELECT count(*) FROM records").fetchone()[0])

    def has_replayable(self) -> bool:
        """True when at least one row is waiting and not leased by anyone."""
        with self._lock:
            row = (
                self._db()
                .execute("SELECT 1 FROM records WHERE lease_until <= ? LIMIT 1", (time.time(),))
                .fetchone()
            )
        return row is not None

    def rejected(self) -> list[tuple[WireRecord, str]]:
        """Rows that can never be delivered, with the reason."""
        with self._lock:
            rows = (
                self._db()
                .execute("SELECT key, value, headers, error FROM rejected ORDER BY id")
                .fetchall()
            )
        return [(WireRecord(r[0], r[1], _decode_headers(r[2])), r[3]) for r in rows]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None


_open_spools: weakref.WeakSet[Spool] = weakref.WeakSet()
_held_for_fork: list[Spool] = []


def _hold_spools_for_fork() -> None:
    """Before ``fork``: wait for every spool's statement in progress; hold them until after."""
    for spool in list(_open_spools):
        spool._lock.acquire()
        _held_for_fork.append(spool)


def _release_spools_after_fork() -> None:
    """After ``fork``, in parent and child alike."""
    while _held_for_fork:
        _held_for_fork.pop()._lock.release()


os.register_at_fork(
    before=_hold_spools_for_fork,
    after_in_parent=_release_spools_after_fork,
    after_in_child=_release_spools_after_fork,
)
