"""The background sender: a bounded in-process buffer, one delivery thread, a durable spool.

The calling thread only appends an already validated and serialized record to a bounded
buffer and, at most, writes it to the local spool when the buffer is full; it never waits
for the broker. One daemon thread per process hands records to the transport (one Kafka
producer per process, or the producer Lambda), which reports each outcome.

Nothing is lost (at-least-once):

- a record whose delivery fails (after the producer's own retries, within
  ``DOCUMENT_EXCEPTIONS_DELIVERY_TIMEOUT``) is written to the spool;
- after a failure the sender is *degraded*: new records go straight to the spool instead of
  piling up in the producer, and every ``DOCUMENT_EXCEPTIONS_REPLAY_INTERVAL`` it probes the
  destination with a spooled record; when that is delivered it replays the spool;
- the spool is also replayed when a sender starts (a restarted process, another worker of
  the same application sharing the directory);
- :meth:`BackgroundSender.flush` (and the exit hook) waits up to its timeout for delivery and
  spools whatever is still pending. A record spooled on timeout that the broker then
  acknowledges after all is removed from the spool again when the acknowledgement arrives
  in time (``late_deliveries``).

Why at-least-once and not exactly-once: a record can reach the broker while its
acknowledgement is lost (a connection cut after the broker wrote it, an acknowledgement that
arrives after the process exited). The sender must then assume it failed and replays it from
the spool, with a different producer session, so the broker's idempotence (which only
deduplicates retries within one producer session) cannot recognise it. Consumers that need
exactly-once deduplicate on the message's content (timestamp, order, key, type).

Safe after ``fork``: a sender belongs to the process that created it. In a child process
an inherited sender refuses to run, and the module-level API (``api.py``) creates a new
one, with its own producer, thread and spool connection.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from document_exceptions.app.settings import AppSettings
from document_exceptions.app.spool import Spool
from document_exceptions.app.transport import Outcome, Transport, is_permanent
from document_exceptions.contract import ValidationError
from document_exceptions.record import Record

logger = logging.getLogger(__name__)

# Records handed to the transport per wake-up of the delivery thread.
MAX_BATCH = 2_000
# Spooled records in flight at once while replaying (a window, so replay does not stall live
# records and a large spool does not fill the producer's memory).
REPLAY_WINDOW = 1_000
# A broker-down probe sends this many spooled records.
PROBE_SIZE = 1
# A spool lease outlives the longest possible delivery attempt.
LEASE_MARGIN_SECONDS = 30.0
# How long close() waits for the delivery thread to finish its current batch. A thread
# still waiting for the broker after that is left to the interpreter's exit (its records are
# in the spool by then).
THREAD_JOIN_SECONDS = 2.0
# Minimum gap between two "buffer full" warnings.
WARNING_INTERVAL_SECONDS = 30.0

COUNTERS = (
    "submitted",  # records accepted by send_document_access_exception
    "delivered",  # acknowledged by the destination straight from the buffer
    "replayed",  # acknowledged after being spooled (replay or probe)
    "late_deliveries",  # acknowledged after flush had already spooled them (spool row removed)
    "spooled",  # written to the spool (buffer full, delivery failure, degraded, flush timeout)
    "dropped",  # lost on purpose by a drop_* full-buffer policy
    "buffer_full",  # submissions that found the buffer full
    "delivery_failures",  # failed delivery attempts (each record at most once per attempt)
    "rejected",  # set aside as undeliverable (too large): kept in the spool's rejected table
    "transport_errors",  # failures to create the producer / client
    "validation_errors",  # send_document_access_exception calls refused by the contract
    "parked_reports",  # refused reports kept in the spool's parked table (not strict mode)
    "report_failures",  # decorator / mixin reports that could not be queued (logged)
)


class SenderClosedError(RuntimeError):
    """The sender was closed, or belongs to the parent of this forked process."""


SPOOLING = -1  # a _Pending.spool_id while its record is being written to the spool


@dataclass(slots=True, eq=False)  # compared by identity: one per record in flight
class _Pending:
    record: Record
    spool_id: int | None = None  # set when the record is (also) in the spool
    from_spool: bool = False  # leased from the spool for replay


@dataclass(frozen=True)
class FlushResult:
    """The outcome of :meth:`BackgroundSender.flush`.

    ``delivered`` and ``spooled`` count records since the previous flush (or the start),
    whether that happened in the background or while flushing; ``pending`` (records neither
    delivered nor spooled) is 0 unless writing the spool failed.
    """

    delivered: int
    spooled: int
    pending: int
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.pending == 0


TransportFactory = Callable[[AppSettings], Transport]


def default_transport_factory(settings: AppSettings) -> Transport:
    if settings.transport == "lambda":
        from document_exceptions.app.lambda_transport import (  # noqa: PLC0415 - needs boto3
            LambdaTransport,
        )

        assert settings.lambda_function is not None  # load_settings guarantees it
        return LambdaTransport(settings.lambda_function, region=settings.lambda_region)
    from document_exceptions.app.kafka_transport import (  # noqa: PLC0415 - needs kafka-python
        KafkaTransport,
    )

    return KafkaTransport(settings)


class BackgroundSender:
    """One process's buffer, delivery thread, transport and spool."""

    def __init__(
        self,
        settings: AppSettings,
        transport_factory: TransportFactory = default_transport_factory,
    ) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self._transport_factory = transport_factory
        self._capacity = settings.buffer_size
        self._policy = settings.full_buffer_policy
        self._buffer: deque[Record] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._wakeup = threading.Event()
        # Records handed to the transport, oldest first (a dict as an insertion-ordered set).
        self._inflight: dict[_Pending, None] = {}
        self._failed: list[tuple[_Pending, BaseException]] = []
        self._acked_spool_ids: list[int] = []
        # Settlements under way (failures taken from _failed, not yet in the spool).
        self._settling = 0
        self._delivered_while_spooling: list[_Pending] = []
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._healthy = True
        self._next_probe = 0.0
        self._spool_dirty = True  # replay on start
        self._next_spool_check = 0.0
        self._transport: Transport | None = None
        self._producers_seen = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopping = False
        self._last_warning = 0.0
        self._flush_mark = (0, 0)  # (delivered, spooled) at the end of the previous flush
        self.spool = Spool(
            settings.spool_dir,
            lease_seconds=settings.delivery_timeout * 2 + LEASE_MARGIN_SECONDS,
            contract=settings.contract,
        )
        _live_senders.add(self)

    # --- calling thread -------------------------------------------------------------------

    def submit(self, record: Record) -> None:
        """Queue one prepared record; returns at once (spools it if the buffer is full)."""
        if self._thread is None or self.pid != os.getpid() or self._closed:
            self._start()
        overflow: Record | None = None
        with self._lock:
            self._counters["submitted"] += 1
            if len(self._buffer) < self._capacity:
                self._buffer.append(record)
            else:
                overflow = self._on_full_buffer(record)
        if overflow is not None:
            self._spool_records([overflow])
        if not self._wakeup.is_set():
            self._wakeup.set()

    def _on_full_buffer(self, record: Record) -> Record | None:
        """Apply the full-buffer policy (lock held); returns a record to spool, if any."""
        self._counters["buffer_full"] += 1
        now = time.monotonic()
        if now - self._last_warning > WARNING_INTERVAL_SECONDS:
            self._last_warning = now
            logger.warning(
                "document-exceptions buffer full (%d records); policy %s; %d full so far",
                self._capacity,
                self._policy,
                self._counters["buffer_full"],
            )
        if self._policy == "spool":
            return record
        self._counters["dropped"] += 1
        if self._policy == "drop_oldest":
            self._buffer.popleft()
            self._buffer.append(record)
        return None

    def flush(self, timeout: float = 10.0) -> FlushResult:
        """Wait up to ``timeout`` s for every pending record's delivery; spool what is left."""
        deadline = time.monotonic() + max(0.0, timeout)
        if self._thread is not None and self.pid == os.getpid():
            self._wakeup.set()
            with self._lock:
                while not self._quiet(replays=False):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        break
                    self._changed.wait(min(remaining, 0.05))
        self._spool_leftovers()
        with self._lock:
            delivered, spooled = self._delivered_total(), self._counters["spooled"]
            result = FlushResult(
                delivered=delivered - self._flush_mark[0],
                spooled=spooled - self._flush_mark[1],
                pending=len(self._buffer) + sum(1 for p in self._inflight if p.spool_id is None),
                counters=dict(self._counters),
            )
            self._flush_mark = (delivered, spooled)
        return result

    def close(self, timeout: float | None = None) -> FlushResult | None:
        """Flush (deliver or spool everything), stop the thread, close transport and spool."""
        if self.pid != os.getpid():
            return None  # inherited through fork: the parent owns these records
        if self._closed:
            return None
        timeout = self.settings.exit_timeout if timeout is None else timeout
        result = self.flush(timeout)
        with self._lock:
            self._closed = self._stopping = True
        self._wakeup.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(THREAD_JOIN_SECONDS)
        busy = self._thread is not None and self._thread.is_alive()
        if self._transport is not None and not busy:
            try:
                self._transport.close(0)
            except Exception:
                logger.exception("closing the %s transport failed", self._transport.name)
        self._settle()
        self._spool_leftovers(closing=True)
        self.spool.close()
        _live_senders.discard(self)
        return result

    def wait_for_spool(self, timeout: float) -> bool:
        """Wait until the spool is empty and nothing is in flight; False on timeout."""
        if self._thread is None or self.pid != os.getpid() or self._closed:
            self._start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                self._spool_dirty = True
                quiet = self._quiet()
            if quiet and self.spool.count() == 0:
                return True
            self._wakeup.set()
            time.sleep(0.05)
        return False

    def stats(self) -> dict[str, Any]:
        """Counters and state, for logs, health checks and tests."""
        with self._lock:
            snapshot: dict[str, Any] = dict(self._counters)
            snapshot.update(
                buffered=len(self._buffer),
                in_flight=len(self._inflight),
                healthy=self._healthy,
                transport=self.settings.transport,
            )
        snapshot["spool_size"] = self.spool.count()
        snapshot["parked_size"] = self.spool.parked_count()
        return snapshot

    def count(self, counter: str) -> None:
        with self._lock:
            self._counters[counter] += 1

    def park_report(self, fields: Mapping[str, Any], error: ValidationError) -> int | None:
        """Keep a report the contract refused, with its reasons, for an operator to replay.

        Logs it and counts it; never raises (returns None when even parking failed).
        """
        try:
            row_id = self.spool.park_report(fields, error.errors)
        except Exception:
            logger.exception("could not park an invalid document-exception report")
            return None
        self.count("parked_reports")
        logger.warning(
            "invalid document-exception report parked as #%d in %s (list and replay: "
            "document_exceptions.app.parked_reports / replay_parked): %s",
            row_id,
            self.spool.location,
            "; ".join(str(problem) for problem in error.errors),
        )
        return row_id

    # --- bookkeeping (lock held where noted) ------------------------------------------------

    def _delivered_total(self) -> int:
        return self._counters["delivered"] + self._counters["replayed"]

    def _quiet(self, *, replays: bool = True) -> bool:
        """Lock held: nothing buffered, in flight or left to settle.

        ``replays=False`` ignores records in flight that are in the spool already (replays,
        probes): flush only waits for what would otherwise be lost.
        """
        if self._buffer or self._failed or self._acked_spool_ids or self._settling:
            return False
        if replays:
            return not self._inflight
        return all(p.spool_id is not None for p in self._inflight)

    def _start(self) -> None:
        if self._closed:
            raise SenderClosedError("this sender is closed")
        if self.pid != os.getpid():
            raise SenderClosedError("this sender belongs to the parent process (fork)")
        with self._lock:
            if self._thread is None:
                # Before the first record is queued: a process that exits while the thread
                # is still creating the transport must still flush (or spool) its buffer.
                _register_exit_hook_last()
                self._thread = threading.Thread(
                    target=self._run, name="document-exceptions-sender", daemon=True
                )
                self._thread.start()

    def _on_result(self, pending: _Pending, error: Outcome) -> None:
        """One record's outcome, as the transport reported it."""
        with self._lock:
            if pending not in self._inflight:
                return
            del self._inflight[pending]
            if error is None:
                self._healthy = True
                if pending.spool_id is None:
                    self._counters["delivered"] += 1
                elif pending.spool_id == SPOOLING:
                    self._delivered_while_spooling.append(pending)
                    self._counters["late_deliveries"] += 1
                else:
                    self._acked_spool_ids.append(pending.spool_id)
                    self._counters["replayed" if pending.from_spool else "late_deliveries"] += 1
            else:
                self._counters["delivery_failures"] += 1
                self._failed.append((pending, error))
            self._changed.notify_all()
        if error is not None and not is_permanent(error):
            self._degrade(error)  # at once: no replay may start on the strength of "healthy"
        if error is not None or pending.spool_id is not None:
            self._wakeup.set()

    def _spool_records(self, records: list[Record], *, leased: bool = False) -> list[int]:
        """Write records to the spool (no lock held); counts them."""
        ids = self.spool.put(records, leased=leased)
        with self._lock:
            self._counters["spooled"] += len(ids)
            self._spool_dirty = True
        return ids

    def _spool_leftovers(self, *, closing: bool = False) -> None:
        """Spool everything buffered, failed or in flight that is not in the spool yet.

        Records still in flight are spooled *leased*, so no replay sends them while their
        first attempt may still succeed: a late acknowledgement deletes the row, a late
        failure releases it. When closing, those leases (and those of replays in flight)
        are released: no acknowledgement can arrive any more, the next start replays them.
        """
        with self._lock:
            buffered = list(self._buffer)
            self._buffer.clear()
            unspooled = [p for p in self._inflight if p.spool_id is None]
            for pending in unspooled:
                pending.spool_id = SPOOLING
            failed, self._failed = self._failed, []
        unsent = [p for p, _ in failed if p.spool_id is None]
        try:
            self._spool_records(buffered + [p.record for p in unsent])
        except Exception:
            logger.exception("could not spool %d pending records", len(buffered) + len(unsent))
            with self._lock:
                self._buffer.extendleft(reversed(buffered))
                self._failed.extend((p, e) for p, e in failed if p.spool_id is None)
        try:
            ids = self._spool_records([p.record for p in unspooled], leased=True)
        except Exception:
            logger.exception("could not spool %d records in flight", len(unspooled))
            ids = [None] * len(unspooled)
        with self._lock:
            for pending, row_id in zip(unspooled, ids, strict=True):
                pending.spool_id = row_id
            done, self._delivered_while_spooling = self._delivered_while_spooling, []
            self._acked_spool_ids.extend(p.spool_id for p in done if p.spool_id is not None)
            held = (
                [p.spool_id for p in self._inflight if p.spool_id not in (None, SPOOLING)]
                if closing
                else []
            )
        self.spool.release([p.spool_id for p, _ in failed if p.spool_id not in (None, SPOOLING)])
        self.spool.release(held)

    def _settle(self) -> None:
        """Spool failures, delete acknowledged spool rows, set aside undeliverable ones."""
        with self._lock:
            failed, self._failed = self._failed, []
            acked, self._acked_spool_ids = self._acked_spool_ids, []
            self._settling += 1
        try:
            self._settle_taken(failed, acked)
        finally:
            with self._lock:
                self._settling -= 1
                self._changed.notify_all()

    def _settle_taken(self, failed: list[tuple[_Pending, BaseException]], acked: list[int]) -> None:
        if acked:
            self.spool.delete(acked)
        if not failed:
            return
        retry_later: list[int] = []
        to_spool: list[Record] = []
        for pending, error in failed:
            if pending.spool_id == SPOOLING:
                continue  # being spooled by flush right now; replayed later
            if is_permanent(error):
                self._reject(pending, error)
            elif pending.spool_id is not None:
                retry_later.append(pending.spool_id)
            else:
                to_spool.append(pending.record)
        self.spool.release(retry_later)
        if to_spool:
            self._spool_records(to_spool)

    def _reject(self, pending: _Pending, error: BaseException) -> None:
        row_id = pending.spool_id
        if row_id is None:
            row_id = self.spool.put([pending.record])[0]
        self.spool.reject(row_id, f"{type(error).__name__}: {error}")
        with self._lock:
            self._counters["rejected"] += 1
        logger.error(
            "a document-exception record can never be delivered (%s); kept as rejected in %s",
            error,
            self.spool.location,
        )

    def _degrade(self, error: BaseException) -> None:
        with self._lock:
            was_healthy, self._healthy = self._healthy, False
            self._next_probe = time.monotonic() + self.settings.replay_interval
        if was_healthy:
            logger.warning(
                "document-exceptions delivery failing (%s: %s); spooling to %s, retrying every %ss",
                type(error).__name__,
                error,
                self.spool.location,
                self.settings.replay_interval,
            )

    # --- delivery thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                if self._step():
                    return
            except Exception:
                logger.exception("document-exceptions sender step failed; continuing")
                time.sleep(min(1.0, self.settings.replay_interval))

    def _step(self) -> bool:
        """One round of the delivery loop; True when the sender is stopping."""
        self._wakeup.wait(self._wait_time())
        self._wakeup.clear()
        if self._stopping:
            return True
        self._settle()
        now = time.monotonic()
        if self._transport is None and (self._healthy or now >= self._next_probe):
            self._create_transport()
        with self._lock:
            healthy = self._healthy and self._transport is not None
            batch = self._take_batch() if healthy else []
            moving = [] if healthy else list(self._buffer)
            if moving:
                self._buffer.clear()
        if batch:
            self._deliver(batch)
        if moving:
            self._spool_moving(moving)
        self._maybe_replay(now)
        with self._lock:
            self._changed.notify_all()
        return False

    def _wait_time(self) -> float:
        with self._lock:
            if self._buffer or self._failed or self._acked_spool_ids:
                return 0.0
        if not self._healthy:
            return max(0.0, min(self._next_probe - time.monotonic(), 1.0))
        return min(1.0, self.settings.replay_interval)

    def _take_batch(self) -> list[_Pending]:
        """Lock held: move up to MAX_BATCH buffered records into flight."""
        buffer = self._buffer
        batch = [_Pending(buffer.popleft()) for _ in range(min(len(buffer), MAX_BATCH))]
        self._inflight.update(dict.fromkeys(batch))
        return batch

    def _deliver(self, batch: list[_Pending]) -> None:
        """Hand the batch to the transport and wait; settle each record's outcome."""
        transport = self._transport
        outcomes: list[Outcome]
        try:
            assert transport is not None  # checked by the caller
            outcomes = transport.deliver([pending.record for pending in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(
                    f"the {transport.name} transport answered {len(outcomes)} outcomes "
                    f"for {len(batch)} records"
                )
        except Exception as exc:  # the transport must answer per record; this is a backstop
            outcomes = [exc] * len(batch)
        for pending, error in zip(batch, outcomes, strict=True):
            self._on_result(pending, error)
        producers = getattr(transport, "producers_created", 0)
        if producers != self._producers_seen:
            self._producers_seen = producers
            _register_exit_hook_last()

    def _spool_moving(self, records: list[Record]) -> None:
        try:
            self._spool_records(records)
        except Exception:
            logger.exception("could not spool %d records; keeping them buffered", len(records))
            with self._lock:
                self._buffer.extendleft(reversed(records))

    def _create_transport(self) -> None:
        try:
            self._transport = self._transport_factory(self.settings)
        except Exception as exc:
            with self._lock:
                self._counters["transport_errors"] += 1
            self._degrade(exc)
            return
        _register_exit_hook_last()
        with self._lock:
            self._healthy = True

    def _maybe_replay(self, now: float) -> None:
        """Replay spooled records when healthy; probe with one when degraded."""
        if self._transport is None or self._stopping:
            return
        with self._lock:
            healthy = self._healthy
            replaying = sum(1 for p in self._inflight if p.from_spool)
            if now >= self._next_spool_check:
                self._spool_dirty = True
                self._next_spool_check = now + self.settings.replay_interval
            dirty = self._spool_dirty
        if not dirty:
            return
        if healthy:
            limit = REPLAY_WINDOW - replaying
            if limit < REPLAY_WINDOW // 2:
                return
        else:
            if replaying or now < self._next_probe:
                return
            limit = PROBE_SIZE
            with self._lock:
                self._next_probe = now + self.settings.replay_interval
        claimed = self.spool.claim(limit)
        if not claimed:
            with self._lock:
                self._spool_dirty = False
            if not healthy:
                with self._lock:
                    self._healthy = True  # nothing to probe with: try live records again
            return
        batch = [_Pending(row.record, row.row_id, from_spool=True) for row in claimed]
        with self._lock:
            self._inflight.update(dict.fromkeys(batch))
        self._deliver(batch)


_live_senders: weakref.WeakSet[BackgroundSender] = weakref.WeakSet()


def close_all_senders() -> None:
    """The exit hook: flush and close every sender of this process."""
    for sender in list(_live_senders):
        try:
            sender.close()
        except Exception:
            logger.exception("closing a document-exceptions sender at exit failed")


def _register_exit_hook_last() -> None:
    """(Re-)register the exit hook so it runs before any registered since (LIFO).

    kafka-python registers its own exit hook per producer, which closes the producer with a
    one-second timeout; ours must run first, while the producer can still deliver.
    """
    atexit.unregister(close_all_senders)
    atexit.register(close_all_senders)
