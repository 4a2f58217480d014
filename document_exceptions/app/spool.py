"""A durable local spool for records that could not be delivered in time.

One SQLite database (``spool.sqlite3``, WAL journal) in the configured directory. SQLite
rather than JSON Lines because several processes of one application (Django under gunicorn
or uWSGI) share the directory: inserts are atomic, and a replaying process *leases* the rows
it is sending, so two processes do not replay the same rows at once. A lease that is not
settled (the process died mid-replay) expires after ``lease_seconds`` and the rows are
replayed by whoever comes next.

Rows hold the exact bytes the contract produced (key, value, headers). The file is local
state that anyone with write access to it could have changed, so every row is checked again
when it is claimed for replay: it must be exactly the record the contract makes of its value
(``contract.record_problems``). A row that is not (undecodable headers, a crafted key or
header, a value the contract refuses) is *parked* with its reasons and never blocks the rows
behind it.

The spool holds user ids, IP addresses, session ids and stack traces, so it is private: the
directory is created 0700, the database (and so its WAL and shared-memory files, which
SQLite creates with the database's mode) 0600, and a directory owned by another user or
writable by group or others is refused. The spool never raises into sending: an unusable
directory, no home directory, a corrupt file or a foreign SQLite file (moved aside) give a
warning and an in-memory spool for the rest of the process (lost at exit, as said in the
warning).

Fork: SQLite keeps a process's file-lock bookkeeping in memory, shared by its connections,
and a forked child inherits it; a child forked while another thread of the parent was in
the middle of a statement would wait on a lock nobody in the child holds (for the full busy
timeout). So a fork waits until no spool of the process is in a statement (the
``os.register_at_fork`` hooks below), and a child opens its own connection.

Three tables:

- ``records``: waiting for (re)delivery;
- ``rejected``: rows whose delivery failed for a reason retrying cannot fix (e.g. larger than
  the broker accepts), with the error;
- ``parked``: reports ``send_document_access_exception`` refused outside strict mode (the
  fields as given, with the contract's reasons) and spool rows that failed the check on
  replay (the row as stored, with the reasons). Listed by :meth:`Spool.parked`, replayed by
  ``document_exceptions.app.replay_parked``.

Nothing is deleted from ``rejected`` or ``parked`` except by an operator's replay.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import sqlite3
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from document_exceptions.contract import (
    DEFAULT_SETTINGS,
    MAX_FIELD_CHARS,
    ContractSettings,
    FieldError,
    record_problems,
    truncate,
)
from document_exceptions.record import Record

logger = logging.getLogger(__name__)

SPOOL_FILE = "spool.sqlite3"
SQLITE_SIDE_FILES = ("-wal", "-shm")
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
# Row ids of an in-memory spool start here, so an id from the file the spool fell back from
# never names a row of the memory database.
MEMORY_FIRST_ROW_ID = 1 << 40
# SQLite's result codes for a file that is not (or no longer) a database.
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
# A parked report's text values are cut to this many characters (the contract's largest limit).
PARKED_TEXT_CHARS = max(MAX_FIELD_CHARS.values())
ORIGIN_REPORT = "report"
ORIGIN_SPOOL = "spool"

TABLES: dict[str, tuple[str, ...]] = {
    "records": ("id", "key", "value", "headers", "spooled_at", "attempts", "lease_until"),
    "rejected": ("id", "key", "value", "headers", "spooled_at", "rejected_at", "error"),
    "parked": ("id", "parked_at", "origin", "reasons", "fields", "key", "value", "headers"),
}
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
CREATE TABLE IF NOT EXISTS parked (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parked_at REAL NOT NULL,
    origin TEXT NOT NULL,
    reasons TEXT NOT NULL,
    fields TEXT,
    key BLOB,
    value BLOB,
    headers TEXT
);
"""

T = TypeVar("T")


class SpoolDirectoryError(OSError):
    """The spool directory cannot be used safely (the message says why)."""


class ForeignDatabaseError(sqlite3.DatabaseError):
    """The spool file is an SQLite database, but not a spool."""


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """A record read back from the spool, with its row id."""

    row_id: int
    record: Record
    attempts: int


@dataclass(frozen=True, slots=True)
class ParkedEntry:
    """A parked report or spool row, with why it was parked.

    ``fields``: the report's fields as given (origin ``report``); ``record``: the key, value
    and headers text as stored (origin ``spool``; the headers may be what failed to decode).
    """

    row_id: int
    parked_at: float
    origin: str
    reasons: list[dict[str, str]]
    fields: dict[str, Any] | None
    record: tuple[bytes | None, bytes | None, str | None] | None


def check_directory(path: Path) -> None:
    """Create ``path`` (0700) if needed; refuse one that is not private enough.

    Raises :class:`SpoolDirectoryError` for a directory owned by another user or writable by
    group or others, and for anything that is not a directory. A directory of this user's
    that group or others can only read or enter, and that holds nothing but the spool (an
    earlier version created it 0755), is made 0700; any other (a home directory given as the
    spool directory) is left as it is: the spool's own files are 0600 in any case.
    """
    try:
        path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as exc:
        raise SpoolDirectoryError(f"{path} cannot be created or read ({exc})") from None
    if not stat.S_ISDIR(info.st_mode):
        raise SpoolDirectoryError(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise SpoolDirectoryError(
            f"{path} is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()})"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SpoolDirectoryError(
            f"{path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"chmod 700 it"
        )
    if stat.S_IMODE(info.st_mode) & 0o077 and _holds_only_the_spool(path):
        try:
            path.chmod(DIRECTORY_MODE)
        except OSError as exc:
            raise SpoolDirectoryError(f"{path} cannot be made private ({exc})") from None


def _holds_only_the_spool(path: Path) -> bool:
    try:
        return all(name.startswith(SPOOL_FILE) for name in os.listdir(path))
    except OSError:
        return False


def _encode_headers(headers: Iterable[tuple[str, bytes]]) -> str:
    return json.dumps([[name, base64.b64encode(value).decode("ascii")] for name, value in headers])


def _decode_headers(text: Any) -> list[tuple[str, bytes]]:
    """Headers as stored; raises ValueError for anything but the encoding above."""
    if not isinstance(text, str):
        raise ValueError(f"stored as {type(text).__name__}, not JSON text")
    items = json.loads(text)
    if not isinstance(items, list):
        raise ValueError("not a JSON list")
    headers = []
    for item in items:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], str)
        ):
            raise ValueError("an entry is not a [name, base64] pair")
        headers.append((item[0], base64.b64decode(item[1], validate=True)))
    return headers


def _stored_record(key: Any, value: Any, headers: Any) -> tuple[Record | None, str | None]:
    """The record a row holds, or why it holds none."""
    if key is not None and not isinstance(key, bytes):
        return None, f"key stored as {type(key).__name__}, not bytes"
    if not isinstance(value, bytes):
        return None, f"value stored as {type(value).__name__}, not bytes"
    try:
        return Record(key, value, _decode_headers(headers)), None
    except ValueError as exc:  # json, base64 (binascii.Error) and shape errors alike
        return None, f"headers cannot be decoded ({exc})"


def _json_safe(value: Any) -> Any:
    """``value`` as JSON can hold it: what JSON cannot is kept as a description of it."""
    if isinstance(value, str):
        return truncate(value, PARKED_TEXT_CHARS) if len(value) > PARKED_TEXT_CHARS else value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, Mapping):
        return {_json_key(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    try:
        text = repr(value)
    except Exception:  # a repr that fails is still described, by its type
        text = "<repr failed>"
    return {"unserializable": type(value).__name__, "repr": text[:200]}


def _json_key(key: Any) -> str:
    return key if isinstance(key, str) else f"<{type(key).__name__}>"


def _encode_fields(fields: Mapping[str, Any]) -> str:
    """The fields as JSON, whatever they hold (the reasons say what was wrong with them)."""
    members = []
    for key, value in fields.items():
        try:
            text = json.dumps(_json_safe(value), allow_nan=False)
        except Exception:  # e.g. nested too deep to walk or encode: keep its type
            text = json.dumps({"unserializable": type(value).__name__})
        members.append(f"{json.dumps(_json_key(key))}: {text}")
    return "{" + ", ".join(members) + "}"


class Spool:
    """The spool database in ``directory``; safe to use from several threads and processes.

    ``directory`` None (no home directory to put it in), an unsafe directory, or a file that
    is not a spool give an in-memory spool and a warning; ``contract`` checks replayed rows.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None,
        lease_seconds: float = 60.0,
        contract: ContractSettings = DEFAULT_SETTINGS,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.contract = contract
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self.directory = Path(directory) if directory is not None else None
        self.path: Path | None = None
        if self.directory is None:
            logger.warning(
                "no home directory for the document-exceptions spool: spooling in memory (lost "
                "at exit); set DOCUMENT_EXCEPTIONS_SPOOL_DIR to a private directory"
            )
        else:
            try:
                check_directory(self.directory)
            except SpoolDirectoryError as exc:
                logger.warning(
                    "document-exceptions spool directory refused: %s; spooling in memory (lost "
                    "at exit)",
                    exc,
                )
            else:
                self.path = self.directory / SPOOL_FILE
        with self._lock:
            try:
                self._db()
            except (sqlite3.Error, OSError) as exc:
                self._fall_back(exc)
        _open_spools.add(self)

    @property
    def location(self) -> str:
        """Where rows are kept, for log messages."""
        return str(self.path) if self.path is not None else "memory"

    # --- the connection -----------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        """This process's connection (a connection inherited through fork is never reused)."""
        if self._connection is None or self._pid != os.getpid():
            self._connection = self._open_file() if self.path is not None else self._open_memory()
            self._pid = os.getpid()
        return self._connection

    def _open_file(self) -> sqlite3.Connection:
        assert self.path is not None
        _private_file(self.path, create=True)
        for suffix in SQLITE_SIDE_FILES:
            _private_file(self.path.with_name(self.path.name + suffix), create=False)
        connection = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        try:
            _check_schema(connection, self.path)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(SCHEMA)
        except BaseException:
            connection.close()
            raise
        return connection

    @staticmethod
    def _open_memory() -> sqlite3.Connection:
        connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        connection.executescript(SCHEMA)
        connection.executemany(
            "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
            [("records", MEMORY_FIRST_ROW_ID), ("parked", MEMORY_FIRST_ROW_ID)],
        )
        return connection

    def _fall_back(self, error: BaseException) -> None:
        """Lock held: the file cannot be used; move it aside if it is not a spool, use memory."""
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None
        path, self.path = self.path, None
        if path is None:
            raise error  # the memory database failed: a bug, not local state
        broken = isinstance(error, ForeignDatabaseError) or getattr(
            error, "sqlite_errorcode", None
        ) in (SQLITE_CORRUPT, SQLITE_NOTADB)
        if broken:
            aside = _move_aside(
                path, "foreign" if isinstance(error, ForeignDatabaseError) else "corrupt"
            )
            logger.warning(
                "document-exceptions spool %s is not a usable spool (%s); moved aside to %s; "
                "spooling in memory until the process restarts (lost at exit)",
                path,
                error,
                aside,
            )
        else:
            logger.warning(
                "document-exceptions spool %s cannot be used (%s); spooling in memory until the "
                "process restarts (lost at exit)",
                path,
                error,
            )
        self._db()

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one transaction; a file that fails falls back to memory (once)."""
        with self._lock:
            try:
                return _transaction(self._db(), work)
            except (sqlite3.Error, OSError) as exc:
                if self.path is None:
                    raise
                self._fall_back(exc)
                return _transaction(self._db(), work)

    # --- records --------------------------------------------------------------------------

    def put(self, records: Sequence[Record], *, leased: bool = False) -> list[int]:
        """Store ``records`` durably (one transaction); return their row ids.

        ``leased`` rows start out leased to the caller (a delivery attempt is still open).
        """
        if not records:
            return []
        now = time.time()
        lease_until = now + self.lease_seconds if leased else 0.0

        def insert(db: sqlite3.Connection) -> list[int]:
            return [
                int(
                    db.execute(
                        "INSERT INTO records (key, value, headers, spooled_at, lease_until)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (r.key, r.value, _encode_headers(r.headers), now, lease_until),
                    ).lastrowid
                )
                for r in records
            ]

        return self._run(insert)

    def claim(self, limit: int) -> list[SpooledRecord]:
        """Lease up to ``limit`` of the oldest unleased rows to this caller for replay.

        Each row is checked against the contract first; one that fails is parked (and
        logged) and the next is taken in its place.
        """
        now = time.time()
        parked: list[tuple[int, list[FieldError]]] = []

        def lease(db: sqlite3.Connection) -> list[SpooledRecord]:
            parked.clear()  # a retry after falling back to memory starts afresh
            claimed: list[SpooledRecord] = []
            after = 0
            while len(claimed) < limit:
                rows = db.execute(
                    "SELECT id, key, value, headers, attempts FROM records"
                    " WHERE lease_until <= ? AND id > ? ORDER BY id LIMIT ?",
                    (now, after, limit - len(claimed)),
                ).fetchall()
                if not rows:
                    break
                after = rows[-1][0]
                for row_id, key, value, headers, attempts in rows:
                    record, problem = _stored_record(key, value, headers)
                    problems = (
                        [FieldError("headers" if "headers" in problem else "record", problem)]
                        if problem is not None
                        else record_problems(record, self.contract)
                    )
                    if problems:
                        _park_row(db, row_id, problems, now)
                        parked.append((row_id, problems))
                    else:
                        claimed.append(SpooledRecord(row_id, record, attempts + 1))
            db.executemany(
                "UPDATE records SET lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                [(now + self.lease_seconds, c.row_id) for c in claimed],
            )
            return claimed

        claimed = self._run(lease)
        for row_id, problems in parked:
            logger.warning(
                "document-exceptions spool row %d is not a record the contract makes (%s); "
                "parked in %s, not sent",
                row_id,
                "; ".join(str(p) for p in problems),
                self.location,
            )
        return claimed

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

        def move(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO rejected"
                " (id, key, value, headers, spooled_at, rejected_at, error)"
                " SELECT id, key, value, headers, spooled_at, ?, ? FROM records WHERE id = ?",
                (time.time(), error, row_id),
            )
            db.execute("DELETE FROM records WHERE id = ?", (row_id,))

        self._run(move)

    def _executemany(self, sql: str, parameters: list[tuple[int]]) -> int:
        if not parameters:
            return 0
        return self._run(lambda db: sum(db.execute(sql, p).rowcount for p in parameters))

    def count(self) -> int:
        """Rows waiting to be replayed (leased ones included)."""
        return int(self._run(lambda db: db.execute("SELECT count(*) FROM records").fetchone()[0]))

    def has_replayable(self) -> bool:
        """True when at least one row is waiting and not leased by anyone."""
        now = time.time()
        row = self._run(
            lambda db: db.execute(
                "SELECT 1 FROM records WHERE lease_until <= ? LIMIT 1", (now,)
            ).fetchone()
        )
        return row is not None

    def rejected(self) -> list[tuple[Record, str]]:
        """Rows that can never be delivered, with the reason."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT key, value, headers, error FROM rejected ORDER BY id"
            ).fetchall()
        )
        return [(Record(r[0], r[1], _decode_headers(r[2])), r[3]) for r in rows]

    # --- parked ---------------------------------------------------------------------------

    def park_report(self, fields: Mapping[str, Any], reasons: Sequence[FieldError]) -> int:
        """Keep a report the contract refused, with its reasons; returns its parked id."""
        encoded = _encode_fields(fields)
        reasons_text = json.dumps([reason.to_dict() for reason in reasons])
        return int(
            self._run(
                lambda db: (
                    db.execute(
                        "INSERT INTO parked (parked_at, origin, reasons, fields)"
                        " VALUES (?, ?, ?, ?)",
                        (time.time(), ORIGIN_REPORT, reasons_text, encoded),
                    ).lastrowid
                )
            )
        )

    def parked(self) -> list[ParkedEntry]:
        """Everything parked, oldest first."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT id, parked_at, origin, reasons, fields, key, value, headers"
                " FROM parked ORDER BY id"
            ).fetchall()
        )
        return [
            ParkedEntry(
                row_id=row[0],
                parked_at=row[1],
                origin=row[2],
                reasons=json.loads(row[3]),
                fields=json.loads(row[4]) if row[4] is not None else None,
                record=(row[5], row[6], row[7]) if row[2] == ORIGIN_SPOOL else None,
            )
            for row in rows
        ]

    def parked_count(self) -> int:
        return int(self._run(lambda db: db.execute("SELECT count(*) FROM parked").fetchone()[0]))

    def unpark(self, row_id: int, reasons: Sequence[FieldError] | None = None) -> None:
        """Forget a parked entry (replayed), or record the reasons it still fails for."""
        if reasons is None:
            self._run(lambda db: db.execute("DELETE FROM parked WHERE id = ?", (row_id,)))
            return
        text = json.dumps([reason.to_dict() for reason in reasons])
        self._run(
            lambda db: db.execute("UPDATE parked SET reasons = ? WHERE id = ?", (text, row_id))
        )

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None


def _transaction(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work(db)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return result


def _park_row(
    db: sqlite3.Connection, row_id: int, problems: Sequence[FieldError], now: float
) -> None:
    db.execute(
        "INSERT INTO parked (parked_at, origin, reasons, key, value, headers)"
        " SELECT ?, ?, ?, key, value, headers FROM records WHERE id = ?",
        (now, ORIGIN_SPOOL, json.dumps([p.to_dict() for p in problems]), row_id),
    )
    db.execute("DELETE FROM records WHERE id = ?", (row_id,))


def _private_file(path: Path, *, create: bool) -> None:
    """Make ``path`` 0600 (creating it when ``create``); refuse one owned by someone else."""
    flags = os.O_RDWR | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    try:
        descriptor = os.open(path, flags, FILE_MODE)
    except FileNotFoundError:
        if create:
            raise
        return
    try:
        info = os.fstat(descriptor)
        if info.st_uid != os.geteuid():
            raise SpoolDirectoryError(f"{path} is owned by uid {info.st_uid}, not by this user")
        if stat.S_IMODE(info.st_mode) != FILE_MODE:
            os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)


def _check_schema(db: sqlite3.Connection, path: Path) -> None:
    """Raise ForeignDatabaseError unless the file is empty or holds only the spool's tables."""
    tables = [
        name
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        expected = TABLES.get(table)
        if expected is None:
            raise ForeignDatabaseError(f"{path} holds a table {table!r} that no spool has")
        columns = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
        if columns != expected:
            raise ForeignDatabaseError(f"{path}: table {table!r} has columns {columns}")


def _move_aside(path: Path, why: str) -> Path | None:
    """Rename the file (and its WAL and shared-memory files) out of the way."""
    aside = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        logger.warning("could not move %s aside (%s)", path, exc)
        return None
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        try:
            os.replace(side, aside.with_name(aside.name + suffix))
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("could not move %s aside (%s)", side, exc)
    return aside


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
