"""Follow the topic: read records as they arrive (or from the start, or from a time), filter
them, and hand each match to a printer (a table or JSON lines).

The consumer is kafka-python's, with ``assign()`` to every partition and no consumer group:
nothing is committed, nothing disturbs other consumers, and there is no group join to wait
for. Positions: the end of each partition (default), the beginning (``from_beginning``), or
the first offset at or after ``since`` (``offsets_for_times``); records before ``since`` are
filtered out as well, so the result is right even where a broker answers that lookup
loosely.

``to_end`` records each partition's end offset before positioning and stops once every
partition's position has reached it (empty partitions have from the start): with
``from_beginning`` that prints what the topic held and returns. Records produced later are
not waited for; a partition at its end is paused, so the only later ones shown are those
fetched together with its last records. The stop is by position, not by dropping offsets past
the end, so a broker that reports a lower end (Tansu: its last batch's base offset + 1) still
has every record shown.
"""

from __future__ import annotations

import heapq
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from kafka import KafkaConsumer, TopicPartition

from document_exceptions.connection import KafkaConnection
from document_exceptions.contract import ValidationError, parse_message
from document_exceptions.ops.kafka_clients import close_quietly, open_client
from document_exceptions.ops.target import missing_topic_error
from document_exceptions.ops.text import printable, printable_json

POLL_MS = 500
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (naive means UTC) or a duration back from now: 90s, 15m, 2h, 1d."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 time (2025-10-21T10:30:00Z) nor a duration "
            "(90s, 15m, 2h, 1d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TailFilter:
    """Which messages to show; empty sets match everything."""

    exception_types: frozenset[str] = frozenset()
    order_req_ids: frozenset[str] = frozenset()
    user_ids: frozenset[str] = frozenset()
    since: datetime | None = None

    @property
    def active(self) -> bool:
        return bool(self.exception_types or self.order_req_ids or self.user_ids or self.since)

    def matches(self, message: Mapping[str, Any], record_timestamp_ms: int) -> bool:
        if self.exception_types and message.get("exception_type") not in self.exception_types:
            return False
        if self.order_req_ids and str(message.get("order_req_id")) not in self.order_req_ids:
            return False
        if self.user_ids and str(message.get("user_id")) not in self.user_ids:
            return False
        return self.since is None or message_time(message, record_timestamp_ms) >= self.since


def message_time(message: Mapping[str, Any], record_timestamp_ms: int) -> datetime:
    """The message's own timestamp, or the record's where that is missing or malformed."""
    stamp = message.get("timestamp")
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(max(record_timestamp_ms, 0) / 1000, UTC)


@dataclass(frozen=True)
class TailedRecord:
    """One record read from the topic: the parsed message, or why it is not one."""

    partition: int
    offset: int
    timestamp_ms: int
    value: bytes
    message: dict[str, Any] | None
    problem: str | None = None


@dataclass
class TailSummary:
    shown: int = 0
    filtered_out: int = 0
    unreadable: int = 0
    partitions: tuple[int, ...] = ()
    stopped_by: str = "timeout"
    extra: dict[str, Any] = field(default_factory=dict)


def decode(partition: int, offset: int, timestamp_ms: int, value: bytes | None) -> TailedRecord:
    raw = value or b""
    try:
        message = parse_message(raw)
    except ValidationError as exc:
        return TailedRecord(partition, offset, timestamp_ms, raw, None, str(exc))
    if not isinstance(message, dict):
        problem = f"not a JSON object ({type(message).__name__})"
        return TailedRecord(partition, offset, timestamp_ms, raw, None, problem)
    return TailedRecord(partition, offset, timestamp_ms, raw, message)


def tail(
    connection: KafkaConnection,
    topic: str,
    on_record: Callable[[TailedRecord], None],
    *,
    match: TailFilter | None = None,
    from_beginning: bool = False,
    max_messages: int | None = None,
    timeout_s: float | None = None,
    connect_timeout_s: float = 10.0,
    stop: threading.Event | None = None,
    on_ready: Callable[[TailSummary], None] | None = None,
    to_end: bool = False,
    deployed: bool = False,
) -> TailSummary:
    """Read ``topic`` and call ``on_record`` for each matching record (and, when no filter
    is set, for each unreadable one) until ``max_messages``, ``timeout_s``, ``stop`` or, with
    ``to_end``, every partition reaching the end offset it had at the start.

    ``on_ready`` is called once the consumer is positioned: records produced after that are
    seen even when following from the end. ``deployed``: the connection is a stack's (for
    the hint when the topic does not exist)."""
    match = match or TailFilter()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    consumer = open_client(
        KafkaConsumer,
        connection,
        timeout_s=connect_timeout_s,
        group_id=None,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
        auto_offset_reset="latest",
    )
    summary = TailSummary()
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            raise missing_topic_error(topic, deployed=deployed)
        summary.partitions = tuple(partitions)
        assigned = [TopicPartition(topic, partition) for partition in partitions]
        consumer.assign(assigned)
        timeout_ms = int(connect_timeout_s * 1000)
        # Before positioning: the end is what the topic held when the tail started.
        ends = consumer.end_offsets(assigned, timeout_ms=timeout_ms) if to_end else None
        _position(consumer, assigned, from_beginning, match.since, connect_timeout_s)
        for partition in assigned:  # seeks are lazy: resolve them now, before "ready"
            consumer.position(partition, timeout_ms=timeout_ms)
        before_end = None if ends is None else _before_end(consumer, set(assigned), ends)
        if on_ready is not None:
            on_ready(summary)
        while (reason := _stop_reason(summary, max_messages, stop, deadline, before_end)) is None:
            batches = consumer.poll(timeout_ms=_wait_ms(deadline))
            for record in _in_order(batches.values()):
                if max_messages is not None and summary.shown >= max_messages:
                    break
                _take(record, match, summary, on_record)
            if ends is not None and before_end:
                before_end = _before_end(consumer, before_end, ends)
        summary.stopped_by = reason
    finally:
        close_quietly(consumer)
    return summary


def _stop_reason(
    summary: TailSummary,
    max_messages: int | None,
    stop: threading.Event | None,
    deadline: float | None,
    before_end: set[TopicPartition] | None = None,
) -> str | None:
    if max_messages is not None and summary.shown >= max_messages:
        return "max-messages"
    if stop is not None and stop.is_set():
        return "stopped"
    if before_end is not None and not before_end:
        return "to-end"
    if deadline is not None and time.monotonic() >= deadline:
        return "timeout"
    return None


def _before_end(
    consumer: KafkaConsumer,
    partitions: set[TopicPartition],
    ends: Mapping[TopicPartition, int],
) -> set[TopicPartition]:
    """Those of ``partitions`` not yet at their recorded end; the others are paused."""
    reached = {p for p in partitions if consumer.position(p) >= ends.get(p, 0)}
    if reached:
        consumer.pause(*reached)
    return partitions - reached


def _wait_ms(deadline: float | None) -> int:
    if deadline is None:
        return POLL_MS
    return max(1, min(POLL_MS, int((deadline - time.monotonic()) * 1000)))


def _take(
    record: Any,
    match: TailFilter,
    summary: TailSummary,
    on_record: Callable[[TailedRecord], None],
) -> None:
    tailed = decode(record.partition, record.offset, record.timestamp, record.value)
    if tailed.message is None:
        summary.unreadable += 1
        if not match.active:
            on_record(tailed)
    elif match.matches(tailed.message, tailed.timestamp_ms):
        summary.shown += 1
        on_record(tailed)
    else:
        summary.filtered_out += 1


def _in_order(batches: Iterable[list[Any]]) -> Iterator[Any]:
    """The records of one poll merged by record timestamp, each partition kept in order."""
    return heapq.merge(*batches, key=lambda record: record.timestamp)


def _position(
    consumer: KafkaConsumer,
    assigned: list[TopicPartition],
    from_beginning: bool,
    since: datetime | None,
    timeout_s: float,
) -> None:
    if from_beginning:
        consumer.seek_to_beginning(*assigned)
        return
    if since is None:
        consumer.seek_to_end(*assigned)
        return
    moment_ms = int(since.timestamp() * 1000)
    found = consumer.offsets_for_times(
        dict.fromkeys(assigned, moment_ms), timeout_ms=int(timeout_s * 1000)
    )
    at_end = []
    for partition in assigned:
        offset = found.get(partition)
        if offset is None:
            at_end.append(partition)  # nothing at or after `since` in this partition
        else:
            consumer.seek(partition, offset.offset)
    if at_end:
        consumer.seek_to_end(*at_end)


# --- printing -----------------------------------------------------------------------------

TABLE_COLUMNS: tuple[tuple[str, int], ...] = (
    ("TIME (UTC)", 24),
    ("P/OFFSET", 10),
    ("TYPE", 22),
    ("HTTP", 4),
    ("ORDER", 14),
    ("USER", 24),
    ("S3 KEY", 32),
    ("ERROR MESSAGE", 40),
)


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else printable(" ".join(str(value).split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def table_header() -> str:
    return "  ".join(name.ljust(width) for name, width in TABLE_COLUMNS).rstrip()


def table_row(record: TailedRecord) -> str:
    where = f"{record.partition}/{record.offset}"
    if record.message is None:
        stamp = datetime.fromtimestamp(max(record.timestamp_ms, 0) / 1000, UTC)
        cells = [stamp.isoformat(timespec="milliseconds")[:23] + "Z", where, "(unreadable)"]
        cells += ["", "", "", "", record.problem or ""]
    else:
        message = record.message
        cells = [
            message.get("timestamp"),
            where,
            message.get("exception_type"),
            message.get("http_status_code"),
            message.get("order_req_id"),
            message.get("user_id"),
            message.get("s3_key"),
            message.get("error_message"),
        ]
    return "  ".join(
        _cell(value, width).ljust(width)
        for value, (_, width) in zip(cells, TABLE_COLUMNS, strict=True)
    ).rstrip()


class TablePrinter:
    """A header once, then one line per record."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._header_done = False

    def __call__(self, record: TailedRecord) -> None:
        if not self._header_done:
            print(table_header(), file=self.out)
            self._header_done = True
        print(table_row(record), file=self.out, flush=True)


class JsonLinesPrinter:
    """Each message as it is on the topic, one per line (pipe it to jq): the same JSON
    value, with non-printable characters escaped so that none reaches the terminal;
    unreadable records are reported on ``err``."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def __call__(self, record: TailedRecord) -> None:
        if record.message is None:
            print(
                f"partition {record.partition} offset {record.offset}: unreadable "
                f"({printable(record.problem or '')}; {len(record.value)} bytes)",
                file=self.err,
            )
            return
        text = printable_json(record.value.decode("utf-8", errors="replace"))
        print(text, file=self.out, flush=True)
