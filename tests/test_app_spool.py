"""document_exceptions.app.spool: durable, leased, shared between processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import pwd
import signal
import sqlite3
import stat
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from document_exceptions.app import api
from document_exceptions.app.settings import AppSettings, default_spool_dir, load_settings
from document_exceptions.app.spool import (
    SPOOL_FILE,
    Spool,
    SpoolDirectoryError,
    check_directory,
)
from document_exceptions.connection import ConfigurationError
from document_exceptions.contract import ContractSettings, FieldError, prepare_record
from document_exceptions.record import Record
from tests.app_helpers import configure_app, message_fields, messages

__all__ = ["configure_app"]  # a fixture


def records(count: int, prefix: str = "m") -> list[Record]:
    """Records as the contract makes them (the spool checks each again on replay)."""
    return [prepare_record(message_fields(prefix, i)).record for i in range(count)]


def test_records_come_back_byte_for_byte_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    written = records(5)
    ids = spool.put(written)
    assert len(ids) == 5
    claimed = spool.claim(10)
    assert [c.record for c in claimed] == written
    assert [c.row_id for c in claimed] == ids
    assert all(c.attempts == 1 for c in claimed)


def test_a_record_keyed_by_order_round_trips_under_that_contract(tmp_path: Path) -> None:
    contract = ContractSettings(key_by="order_req_id")
    record = prepare_record(message_fields("k", 1), contract).record
    spool = Spool(tmp_path, contract=contract)
    spool.put([record])
    assert spool.claim(1)[0].record == record
    assert record.key == b"k-1"


def test_spooled_records_survive_a_new_spool_instance(tmp_path: Path) -> None:
    Spool(tmp_path).put(records(3))
    reopened = Spool(tmp_path)
    assert reopened.count() == 3
    assert len(reopened.claim(10)) == 3


def test_leased_rows_are_not_claimed_twice_until_released(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put(records(4))
    first = spool.claim(3)
    second = spool.claim(10)
    assert len(first) == 3
    assert len(second) == 1
    assert {r.row_id for r in first}.isdisjoint({r.row_id for r in second})
    assert spool.claim(10) == []
    spool.release([r.row_id for r in first])
    again = spool.claim(10)
    assert [r.row_id for r in again] == [r.row_id for r in first]
    assert all(r.attempts == 2 for r in again)


def test_an_expired_lease_makes_rows_claimable_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path, lease_seconds=0.2)
    spool.put(records(1))
    assert len(spool.claim(1)) == 1
    assert spool.claim(1) == []
    assert not spool.has_replayable()
    time.sleep(0.25)
    assert spool.has_replayable()
    assert len(spool.claim(1)) == 1


def test_deleted_rows_are_gone_and_delete_is_idempotent(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ids = spool.put(records(3))
    assert spool.delete(ids[:2]) == 2
    assert spool.delete(ids[:2]) == 0
    assert spool.count() == 1


def test_rejected_rows_are_kept_aside_with_their_reason(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    written = records(1)
    row_id = spool.put(written)[0]
    spool.reject(row_id, "MessageSizeTooLargeError: too big")
    assert spool.count() == 0
    assert spool.claim(10) == []
    [(record, reason)] = spool.rejected()
    assert record == written[0]
    assert reason == "MessageSizeTooLargeError: too big"


def _claim_in_child(directory: str, queue: multiprocessing.Queue) -> None:
    spool = Spool(directory)
    mine: list[int] = []
    while batch := spool.claim(7):
        mine.extend(r.row_id for r in batch)
    queue.put(mine)


@pytest.mark.timeout(60)
def test_processes_sharing_a_directory_never_claim_the_same_row(tmp_path: Path) -> None:
    Spool(tmp_path).put(records(300))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [
        context.Process(target=_claim_in_child, args=(str(tmp_path), queue)) for _ in range(3)
    ]
    for child in children:
        child.start()
    claimed = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    everything = [row for rows in claimed for row in rows]
    assert len(everything) == 300
    assert len(set(everything)) == 300


def _spool_in_forked_child(directory: Path) -> None:
    """Use the shared spool from a child forked while the parent's thread uses it."""
    signal.alarm(CHILD_DEADLINE_SECONDS)  # a child waiting on an inherited lock dies here
    spool = Spool(directory)
    spool.put([Record(b"k", b"from the child", [])])
    spool.count()


CHILD_DEADLINE_SECONDS = 20


def test_a_child_forked_while_the_parent_uses_the_spool_can_use_it_at_once(
    tmp_path: Path,
) -> None:
    """SQLite's in-memory lock bookkeeping is inherited through fork: a child forked in the
    middle of a parent's statement would wait on a lock nobody in it holds. The spool's fork
    hooks make fork wait for the statement, so every child gets through."""
    parent = Spool(tmp_path)
    stop = threading.Event()

    def use_the_spool() -> None:
        while not stop.is_set():
            parent.put([Record(b"k", b"from the parent", [])])
            parent.delete(row.row_id for row in parent.claim(5))
            time.sleep(0.001)  # busy, but leaves the children's writes a chance

    worker = threading.Thread(target=use_the_spool, daemon=True)
    worker.start()
    context = multiprocessing.get_context("fork")
    try:
        exit_codes = []
        for _ in range(8):
            child = context.Process(target=_spool_in_forked_child, args=(tmp_path,))
            child.start()
            child.join(CHILD_DEADLINE_SECONDS + 10)
            exit_codes.append(child.exitcode)
    finally:
        stop.set()
        worker.join(10)
    assert exit_codes == [0] * 8


# --- private, and safe against what the local file may hold -------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_directory_is_0700_and_the_database_wal_and_shm_files_0600(tmp_path: Path) -> None:
    """The spool holds user ids, IPs, session ids and stack traces: private to its user,
    whatever the umask (SQLite creates the WAL and SHM files with the database's mode)."""
    previous = os.umask(0o022)
    try:
        spool = Spool(tmp_path / "state" / "spool")
        spool.put(records(3))
        spool.claim(1)
    finally:
        os.umask(previous)
    directory = tmp_path / "state" / "spool"
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["spool.sqlite3", "spool.sqlite3-shm", "spool.sqlite3-wal"]
    assert mode(directory) == 0o700
    assert {name: mode(directory / name) for name in files} == dict.fromkeys(files, 0o600)


def test_a_directory_and_files_an_earlier_version_left_readable_are_made_private(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "spool"
    Spool(directory).put(records(2))
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
    assert Spool(directory).count() == 2
    assert mode(directory) == 0o700
    assert {mode(path) for path in directory.iterdir()} == {0o600}


def test_a_readable_directory_holding_more_than_the_spool_is_left_as_it_is(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / ".profile").write_text("# the user's own file\n")
    Spool(home).put(records(1))
    assert mode(home) == 0o755
    assert mode(home / SPOOL_FILE) == 0o600


def assert_spooled_in_memory_only(refused: Path) -> None:
    """The sender's spool never raises over a refused directory: memory, nothing written."""
    spool = Spool(refused)
    assert spool.put(records(1))
    assert spool.path is None
    assert list(refused.iterdir()) == []


@pytest.mark.parametrize("permissions", [0o770, 0o703, 0o777])
def test_a_directory_writable_by_group_or_others_is_refused(
    tmp_path: Path, permissions: int, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(permissions)
    with pytest.raises(SpoolDirectoryError, match="writable by group or others"):
        check_directory(shared)
    with pytest.raises(ConfigurationError) as refused:
        load_settings(
            {
                "KAFKA_BOOTSTRAP_SERVERS": '["127.0.0.1:9092"]',
                "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(shared),
            },
            environ={},
            django={},
        )
    assert refused.value.variable == "DOCUMENT_EXCEPTIONS_SPOOL_DIR"
    assert "writable by group or others" in str(refused.value)
    assert_spooled_in_memory_only(shared)
    assert "spool directory refused" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_directory_owned_by_another_user_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(SpoolDirectoryError, match="owned by uid 65534"):
        check_directory(theirs)
    assert_spooled_in_memory_only(theirs)
    assert "owned by uid 65534" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_database_file_owned_by_another_user_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Spool(tmp_path).put(records(1))
    os.chown(tmp_path / SPOOL_FILE, 65534, 65534)
    spool = Spool(tmp_path)
    assert spool.path is None
    assert spool.count() == 0
    assert spool.put(records(1))
    assert (tmp_path / SPOOL_FILE).stat().st_uid == 65534  # left where it is, untouched
    assert "cannot be used" in caplog.text


def test_without_a_home_directory_the_spool_is_in_memory_never_in_tmp(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)

    def no_such_user(uid: int) -> None:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_such_user)
    assert os.path.expanduser("~") == "~"
    assert default_spool_dir() is None
    spool = Spool(default_spool_dir())
    written = records(2)
    spool.put(written)
    assert [row.record for row in spool.claim(5)] == written
    assert spool.location == "memory"
    assert "no home directory" in caplog.text


def test_a_corrupt_file_is_moved_aside_and_spooling_goes_on_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"this is not an SQLite database\n" * 200
    (tmp_path / SPOOL_FILE).write_bytes(garbage)
    spool = Spool(tmp_path)
    written = records(2)
    spool.put(written)
    assert [row.record for row in spool.claim(5)] == written
    [aside] = tmp_path.glob(f"{SPOOL_FILE}.corrupt-*")
    assert aside.read_bytes() == garbage
    assert not (tmp_path / SPOOL_FILE).exists()
    assert "moved aside" in caplog.text
    assert "in memory" in caplog.text


def test_a_file_corrupted_while_open_is_moved_aside_without_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    spool.put(records(1))
    (tmp_path / SPOOL_FILE).write_bytes(b"\xff" * 8192)
    for suffix in ("-wal", "-shm"):
        (tmp_path / (SPOOL_FILE + suffix)).write_bytes(b"\xff" * 8192)
    assert spool.put(records(1))
    assert spool.count() == 1  # the new record, in memory
    assert spool.path is None
    assert list(tmp_path.glob(f"{SPOOL_FILE}.corrupt-*"))
    assert "moved aside" in caplog.text


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param("CREATE TABLE users (name TEXT, password TEXT)", id="other_tables"),
        pytest.param("CREATE TABLE records (id INTEGER, payload TEXT)", id="other_columns"),
    ],
)
def test_a_foreign_sqlite_file_is_moved_aside_untouched(
    tmp_path: Path, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    foreign = sqlite3.connect(tmp_path / SPOOL_FILE)
    foreign.execute(schema)
    foreign.commit()
    foreign.close()
    spool = Spool(tmp_path)
    written = records(1)
    spool.put(written)
    assert [row.record for row in spool.claim(5)] == written
    [aside] = tmp_path.glob(f"{SPOOL_FILE}.foreign-*")
    kept = sqlite3.connect(aside)
    assert kept.execute("SELECT sql FROM sqlite_master").fetchall() == [(schema,)]
    kept.close()
    assert "is not a usable spool" in caplog.text


def rewrite_row(directory: Path, row_id: int, **columns: object) -> None:
    """Change a stored row behind the spool's back, as anyone with the file could."""
    db = sqlite3.connect(directory / SPOOL_FILE)
    for column, value in columns.items():
        db.execute(f"UPDATE records SET {column} = ? WHERE id = ?", (value, row_id))  # noqa: S608
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        pytest.param("headers", "not json", "headers", id="headers_not_json"),
        pytest.param("headers", '[["exception_type", "%%%"]]', "headers", id="headers_not_base64"),
        pytest.param("value", b"\xff\xfe", "message", id="value_not_json"),
        pytest.param("value", "text, not bytes", "record", id="value_not_bytes"),
    ],
)
def test_a_bad_row_among_four_is_parked_and_the_three_behind_it_are_claimed(
    tmp_path: Path, column: str, value: object, field: str
) -> None:
    written = records(4)
    ids = Spool(tmp_path).put(written)
    rewrite_row(tmp_path, ids[1], **{column: value})
    spool = Spool(tmp_path)
    claimed = spool.claim(3)
    assert [row.record for row in claimed] == [written[0], written[2], written[3]]
    assert spool.count() == 3  # the bad row is no longer waiting
    [parked] = spool.parked()
    assert parked.origin == "spool"
    assert field in [reason["field"] for reason in parked.reasons]
    assert parked.record is not None


def test_a_crafted_row_with_its_own_key_and_headers_is_parked_not_replayed(tmp_path: Path) -> None:
    genuine = records(1)[0]
    crafted = Record(b"attacker-key", genuine.value, [("x-admin", b"true")])
    Spool(tmp_path).put([crafted, genuine])
    spool = Spool(tmp_path)
    assert [row.record for row in spool.claim(10)] == [genuine]
    [parked] = spool.parked()
    assert sorted(reason["field"] for reason in parked.reasons) == ["headers", "key"]
    assert parked.record == (b"attacker-key", genuine.value, parked.record[2])


# --- through the app, to the real local broker ----------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("state", ["corrupt", "foreign"])
def test_sending_goes_on_to_the_broker_over_a_corrupt_or_foreign_spool_file(
    *,
    kafka_broker: Any,
    fresh_topic: Callable[..., str],
    configure_app: Callable[..., AppSettings],
    tmp_path: Path,
    state: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool_dir = tmp_path / "spool"  # configure_app's
    spool_dir.mkdir(mode=0o700)
    if state == "corrupt":
        (spool_dir / SPOOL_FILE).write_bytes(b"\x00garbage" * 512)
    else:
        foreign = sqlite3.connect(spool_dir / SPOOL_FILE)
        foreign.execute("CREATE TABLE accounts (user TEXT, secret TEXT)")
        foreign.commit()
        foreign.close()
    topic = kafka_broker.create_topic(fresh_topic())
    configure_app(kafka_broker.bootstrap, topic)
    run = uuid.uuid4().hex[:8]
    for index in range(5):
        api.send_document_access_exception(**message_fields(run, index))
    assert api.flush(10).pending == 0
    found = Counter(m["order_req_id"] for m in messages(kafka_broker.read_all(topic, expected=5)))
    assert found == Counter(f"{run}-{i}" for i in range(5))
    assert len(list(spool_dir.glob(f"{SPOOL_FILE}.{state}-*"))) == 1
    assert "moved aside" in caplog.text


def topic_with_records(
    kafka_broker: Any, fresh_topic: Callable[..., str], count: int
) -> tuple[str, str, list[Record]]:
    """A new topic, a run id, and ``count`` records the contract made for that topic."""
    topic = kafka_broker.create_topic(fresh_topic())
    run = uuid.uuid4().hex[:8]
    contract = ContractSettings(topic=topic)
    return (
        topic,
        run,
        [prepare_record(message_fields(run, i), contract).record for i in range(count)],
    )


@pytest.mark.timeout(60)
def test_a_row_with_undecodable_headers_never_blocks_the_three_behind_it(
    kafka_broker: Any,
    fresh_topic: Callable[..., str],
    configure_app: Callable[..., AppSettings],
    tmp_path: Path,
) -> None:
    """Before: the JSON error on row 1 stopped every replay: 0 of 4 delivered, for good."""
    topic, run, stored = topic_with_records(kafka_broker, fresh_topic, 4)
    spool_dir = tmp_path / "spool"  # left by an earlier process, changed on disk
    first = Spool(spool_dir).put(stored)[0]
    rewrite_row(spool_dir, first, headers="{broken")
    configure_app(kafka_broker.bootstrap, topic)  # replays the spool at start
    assert api.drain_spool(30)
    found = Counter(m["order_req_id"] for m in messages(kafka_broker.read_all(topic, expected=3)))
    assert found == Counter(f"{run}-{i}" for i in (1, 2, 3))
    [parked] = api.parked_reports()
    assert (parked.origin, parked.reasons[0]["field"]) == ("spool", "headers")


@pytest.mark.timeout(60)
def test_a_crafted_row_is_never_published_and_the_genuine_rows_are(
    kafka_broker: Any,
    fresh_topic: Callable[..., str],
    configure_app: Callable[..., AppSettings],
    tmp_path: Path,
) -> None:
    """Before: a row with an arbitrary key and headers went to the topic as stored."""
    topic, _, genuine = topic_with_records(kafka_broker, fresh_topic, 2)
    forged_value = json.dumps({"order_req_id": "forged", "anything": "goes"}).encode()
    crafted = [
        Record(b"attacker", genuine[0].value, [("x-role", b"admin")]),
        Record(genuine[0].key, forged_value, genuine[0].headers),
    ]
    spool_dir = tmp_path / "spool"
    Spool(spool_dir).put([crafted[0], genuine[0], crafted[1], genuine[1]])
    configure_app(kafka_broker.bootstrap, topic)
    assert api.drain_spool(30)
    assert api.flush(10).pending == 0
    records = kafka_broker.read_all(topic, timeout=5)
    assert sorted(r.value for r in records) == sorted(r.value for r in genuine)
    assert {r.key for r in records} == {b"DocumentAccessLog"}
    assert all(("x-role", b"admin") not in list(r.headers or []) for r in records)
    assert [len(p.reasons) > 0 for p in api.parked_reports()] == [True, True]


def test_a_report_holding_anything_is_parked_with_its_reasons(tmp_path: Path) -> None:
    """Whatever a caller passed, the report is kept: what JSON cannot hold is described."""
    deep: dict[str, Any] = {}
    level = deep
    for _ in range(5_000):
        level["x"] = level = {}
    fields = {
        "user_id": object(),
        "http_status_code": float("nan"),
        "additional_context": deep,
        "order_req_id": "SB1",
    }
    reasons = [FieldError("user_id", "expected a string, got object")]
    spool = Spool(tmp_path)
    row_id = spool.park_report(fields, reasons)
    [parked] = spool.parked()
    assert (parked.row_id, parked.origin, parked.reasons) == (
        row_id,
        "report",
        [r.to_dict() for r in reasons],
    )
    assert parked.fields == {
        "user_id": {"unserializable": "object", "repr": parked.fields["user_id"]["repr"]},
        "http_status_code": {"unserializable": "float", "repr": "nan"},
        "additional_context": {"unserializable": "dict"},
        "order_req_id": "SB1",
    }
