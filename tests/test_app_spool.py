"""document_exceptions.app.spool: durable, leased, shared between processes."""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from pathlib import Path

import pytest

from document_exceptions.app.spool import Spool, WireRecord
from document_exceptions.contract import ContractSettings, prepare_record
from tests.ops_helpers import message_fields


def records(count: int, prefix: str = "m") -> list[WireRecord]:
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
    spool.put([WireRecord(b"k", b"from the child", [])])
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
            parent.put([WireRecord(b"k", b"from the parent", [])])
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
