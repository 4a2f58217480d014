"""`document-exceptions tail` (and ops/tail.py) against the real local broker.

Tansu answers ListOffsets LATEST with the base offset of the partition's last batch + 1
(see local-broker.md), so the records a test produces before following "from the end" are
sent one batch each: then that answer is the true end, as on Kafka.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaProducer

from document_exceptions import cli
from document_exceptions.connection import KafkaConnection
from document_exceptions.contract import ContractSettings, prepare_record
from document_exceptions.ops.errors import OpsError
from document_exceptions.ops.tail import TailedRecord, TailFilter, parse_since, tail
from tests.ops_helpers import (
    SEED_USER,
    STACK,
    client_factory,
    cloudformation_with_stack,
    cluster_outputs,
    create_secret,
    message_fields,
    without_kafka_environment,
)

pytestmark = pytest.mark.timeout(60)


def produce(
    broker: Any,
    topic: str,
    values: Iterable[bytes],
    one_batch_each: bool = False,
    spread_over: int | None = None,
) -> None:
    """Send ``values`` with the seed's key (one partition), or round-robin over the first
    ``spread_over`` partitions."""
    producer = KafkaProducer(**broker.kafka_python_config())
    try:
        for index, value in enumerate(values):
            partition = None if spread_over is None else index % spread_over
            future = producer.send(
                topic, value=value, key=b"DocumentAccessLog", partition=partition
            )
            if one_batch_each:
                future.get(10)
        producer.flush(10)
    finally:
        producer.close(5)


def value(topic: str, **fields: Any) -> bytes:
    return prepare_record(fields, ContractSettings(topic=topic)).record.value


def seeded_topic(broker: Any, fresh_topic: Any, run: str) -> tuple[str, list[bytes]]:
    """A topic with six messages: three types, two users, distinct orders."""
    topic = broker.create_topic(fresh_topic())
    values = [
        value(topic, **message_fields(run, 0)),
        value(topic, **message_fields(run, 1, exception_type="file_not_found")),
        value(topic, **message_fields(run, 2, user_id="other-user")),
        value(topic, **message_fields(run, 3, exception_type="quota_exceeded")),
        value(topic, **message_fields(run, 4, exception_type="file_not_found")),
        value(topic, **message_fields(run, 5, user_id="other-user")),
    ]
    produce(broker, topic, values)
    return topic, values


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, kafka_broker: Any) -> None:
    without_kafka_environment(monkeypatch)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.usefixtures("local_env")
def test_from_beginning_as_json_lines_prints_each_message_exactly_as_on_the_topic(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, values = seeded_topic(kafka_broker, fresh_topic, "json")
    argv = ["tail", "--topic", topic, "--from-beginning", "--json", "--max-messages", "6"]

    started = time.monotonic()
    assert cli.main([*argv, "--timeout", "20"]) == 0
    captured = capsys.readouterr()

    assert time.monotonic() - started < 10  # stopped by --max-messages, not the timeout
    assert sorted(captured.out.encode().splitlines()) == sorted(values)
    assert "6 shown, 0 filtered out, 0 unreadable" in captured.err
    assert "stopped by max-messages" in captured.err


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (TailFilter(), [True, True, True]),
        (TailFilter(exception_types=frozenset({"file_not_found"})), [False, True, False]),
        (TailFilter(exception_types=frozenset({"file_not_found", "quota_exceeded"})),
         [False, True, True]),
        (TailFilter(user_ids=frozenset({"other-user"})), [False, False, True]),
        (TailFilter(order_req_ids=frozenset({"o-1", "o-3"})), [True, False, True]),
        (TailFilter(exception_types=frozenset({"access_denied"}),
                    user_ids=frozenset({"u"})), [True, False, False]),
        (TailFilter(since=datetime(2025, 10, 21, 10, 30, tzinfo=UTC)), [True, False, True]),
    ],
)  # fmt: skip
def test_filter_matches_every_condition_given(match: TailFilter, expected: list[bool]) -> None:
    messages = [
        {"order_req_id": "o-1", "user_id": "u", "exception_type": "access_denied",
         "timestamp": "2025-10-21T10:30:00Z"},
        {"order_req_id": "o-2", "user_id": "u", "exception_type": "file_not_found",
         "timestamp": "2025-10-21T10:29:59.999Z"},
        {"order_req_id": "o-3", "user_id": "other-user", "exception_type": "quota_exceeded",
         "timestamp": "not a time"},  # falls back to the record's timestamp (2026)
    ]  # fmt: skip
    record_ms = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert [match.matches(message, record_ms) for message in messages] == expected


@pytest.mark.usefixtures("local_env")
def test_filters_apply_to_what_is_read(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, _ = seeded_topic(kafka_broker, fresh_topic, "filt")
    flags = ["--type", "file_not_found", "--type", "quota_exceeded", "--user", SEED_USER]

    code = cli.main(["tail", "--topic", topic, "--from-beginning", "--json", *flags,
                     "--timeout", "2"])  # fmt: skip
    captured = capsys.readouterr()

    assert code == 0
    shown = {message["order_req_id"] for message in json_lines(captured.out)}
    assert shown == {"filt-1", "filt-3", "filt-4"}
    assert "3 shown, 3 filtered out, 0 unreadable" in captured.err


@pytest.mark.usefixtures("local_env")
def test_table_shows_one_row_per_message_with_the_key_columns(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, _ = seeded_topic(kafka_broker, fresh_topic, "table")

    assert cli.main(["tail", "--topic", topic, "--from-beginning", "--type", "quota_exceeded",
                     "--max-messages", "1", "--timeout", "20"]) == 0  # fmt: skip
    header, *rows = capsys.readouterr().out.splitlines()

    assert header.split()[:4] == ["TIME", "(UTC)", "P/OFFSET", "TYPE"]
    (row,) = rows
    assert "quota_exceeded" in row
    assert " 429 " in row
    assert "table-3" in row
    assert "documents/table/3.pdf" in row


@pytest.mark.usefixtures("local_env")
def test_since_skips_older_messages(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    old = datetime.now(UTC) - timedelta(days=2)
    produce(
        kafka_broker,
        topic,
        [
            value(topic, **message_fields("since", 0, timestamp=old.isoformat())),
            value(topic, **message_fields("since", 1)),
            value(topic, **message_fields("since", 2, timestamp=old.isoformat())),
            value(topic, **message_fields("since", 3)),
        ],
    )

    # One key, one partition: in offset order old, new, old, new. Without the filter the
    # first two shown would include an old one.
    for since in ("1h", (datetime.now(UTC) - timedelta(hours=1)).isoformat()):
        argv = ["tail", "--topic", topic, "--json", "--since", since, "--max-messages", "2"]
        assert cli.main([*argv, "--timeout", "20"]) == 0
        shown = {message["order_req_id"] for message in json_lines(capsys.readouterr().out)}
        assert shown == {"since-1", "since-3"}, since


def test_since_accepts_durations_and_iso_times() -> None:
    now = datetime(2025, 10, 21, 12, 0, tzinfo=UTC)
    assert parse_since("90s", now) == now - timedelta(seconds=90)
    assert parse_since("15m", now) == now - timedelta(minutes=15)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("1d", now) == now - timedelta(days=1)
    assert parse_since("2025-10-21T10:30:00Z") == datetime(2025, 10, 21, 10, 30, tzinfo=UTC)
    assert parse_since("2025-10-21T10:30:00") == datetime(2025, 10, 21, 10, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither an ISO 8601 time"):
        parse_since("last tuesday")


def test_following_from_the_end_shows_only_new_messages(
    kafka_broker: Any, fresh_topic: Any
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    produce(kafka_broker, topic, [value(topic, **message_fields("old", i)) for i in range(3)], True)
    connection = KafkaConnection(bootstrap_servers=(kafka_broker.bootstrap,))
    ready = threading.Event()
    seen: list[TailedRecord] = []
    outcome: dict[str, Any] = {}

    def follow() -> None:
        outcome["summary"] = tail(
            connection,
            topic,
            seen.append,
            max_messages=2,
            timeout_s=20,
            on_ready=lambda _: ready.set(),
        )

    follower = threading.Thread(target=follow)
    follower.start()
    assert ready.wait(15)
    produce(kafka_broker, topic, [value(topic, **message_fields("new", i)) for i in range(2)])
    follower.join(25)

    assert not follower.is_alive()
    assert outcome["summary"].stopped_by == "max-messages"
    assert sorted(record.message["order_req_id"] for record in seen) == ["new-0", "new-1"]


def test_unreadable_records_are_shown_without_filters_and_counted_with_them(
    kafka_broker: Any, fresh_topic: Any
) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=1)
    produce(kafka_broker, topic, [b"not json", b"[1, 2]", value(topic, **message_fields("u", 0))])
    connection = KafkaConnection(bootstrap_servers=(kafka_broker.bootstrap,))

    everything: list[TailedRecord] = []
    summary = tail(
        connection, topic, everything.append, from_beginning=True, max_messages=1, timeout_s=20
    )
    assert [record.message is None for record in everything] == [True, True, False]
    assert "not valid JSON" in (everything[0].problem or "")
    assert "not a JSON object" in (everything[1].problem or "")
    assert (summary.shown, summary.unreadable) == (1, 2)

    filtered: list[TailedRecord] = []
    match = TailFilter(exception_types=frozenset({"access_denied"}))
    summary = tail(
        connection,
        topic,
        filtered.append,
        match=match,
        from_beginning=True,
        max_messages=1,
        timeout_s=20,
    )
    assert [record.message["order_req_id"] for record in filtered] == ["u-0"]
    assert summary.unreadable == 2


@pytest.mark.usefixtures("local_env")
def test_a_missing_topic_is_an_error_naming_it(
    capsys: pytest.CaptureFixture[str], fresh_topic: Any, kafka_broker: Any
) -> None:
    missing = fresh_topic()
    assert cli.main(["tail", "--topic", missing, "--timeout", "3"]) == 1
    err = capsys.readouterr().err
    assert f"topic {missing} does not exist" in err
    assert f"--create --topic {missing}" in err  # local settings: no stack to look at
    assert "topic bootstrap" not in err


@pytest.mark.usefixtures("local_env")
def test_timeout_stops_an_idle_tail(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    started = time.monotonic()
    assert cli.main(["tail", "--topic", topic, "--timeout", "1.5"]) == 0
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 1.5 + 3
    assert "stopped by timeout" in capsys.readouterr().err


@pytest.mark.usefixtures("local_env")
def test_unreachable_brokers_fail_within_the_connect_timeout(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kafka_broker.relay.blackhole()
    started = time.monotonic()
    code = cli.main(["tail", "--topic", fresh_topic(), "--connect-timeout", "2"])
    elapsed = time.monotonic() - started

    assert code == 1
    assert elapsed < 2 + 3
    err = capsys.readouterr().err
    assert "no answer from the brokers" in err
    assert "security group" in err


def test_connecting_to_nothing_raises_an_ops_error(fresh_topic: Any) -> None:
    from tests.harness import free_port  # noqa: PLC0415

    connection = KafkaConnection(bootstrap_servers=(f"127.0.0.1:{free_port()}",))
    started = time.monotonic()
    with pytest.raises(OpsError, match="refused the connection"):
        tail(connection, fresh_topic(), print, timeout_s=1, connect_timeout_s=1.5)
    assert time.monotonic() - started < 1.5 + 3


@pytest.mark.usefixtures("fake_aws")
def test_deployed_environment_over_sasl_ssl(
    secure_kafka_broker: Any,
    fresh_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    without_kafka_environment(monkeypatch)
    topic = secure_kafka_broker.create_topic(fresh_topic())
    produce(secure_kafka_broker, topic, [value(topic, **message_fields("aws", 0))])
    arn = create_secret(secure_kafka_broker.username, secure_kafka_broker.password)
    cloudformation = cloudformation_with_stack(cluster_outputs(secure_kafka_broker, arn))
    argv = ["tail", "--stack", STACK, "--topic", topic, "--cafile", secure_kafka_broker.cafile,
            "--from-beginning", "--json", "--max-messages", "1", "--timeout", "15"]  # fmt: skip

    code = cli.main(argv, client_factory=client_factory(cloudformation))

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert [message["order_req_id"] for message in json_lines(captured.out)] == ["aws-0"]
    assert f"stack {STACK}" in captured.err


@pytest.mark.usefixtures("local_env")
def test_to_end_from_the_beginning_prints_the_whole_topic_and_exits(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=3)
    values = [value(topic, **message_fields("dump", i)) for i in range(10)]
    # Two producers: each partition gets at least two batches (Tansu then reports an end
    # below the last record; every record must be shown all the same).
    produce(kafka_broker, topic, values[:6], spread_over=3)
    produce(kafka_broker, topic, values[6:], spread_over=3)

    started = time.monotonic()
    code = cli.main(["tail", "--topic", topic, "--from-beginning", "--to-end", "--json"])
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()

    assert code == 0, captured.err
    assert elapsed < 10
    assert sorted(captured.out.encode().splitlines()) == sorted(values)
    assert "from the beginning up to the current end" in captured.err
    assert "10 shown, 0 filtered out, 0 unreadable (partitions 0, 1, 2; stopped by to-end)" in (
        captured.err
    )


@pytest.mark.usefixtures("local_env")
def test_to_end_on_an_empty_topic_exits_at_once(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=3)
    for start in ([], ["--from-beginning"]):
        started = time.monotonic()
        assert cli.main(["tail", "--topic", topic, *start, "--to-end"]) == 0
        elapsed = time.monotonic() - started
        captured = capsys.readouterr()

        assert elapsed < 5, start
        assert captured.out == ""
        assert "0 shown, 0 filtered out, 0 unreadable" in captured.err
        assert "stopped by to-end" in captured.err


def test_to_end_from_the_end_does_not_wait_for_messages_produced_after_the_start(
    kafka_broker: Any, fresh_topic: Any
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    produce(kafka_broker, topic, [value(topic, **message_fields("old", i)) for i in range(3)], True)
    connection = KafkaConnection(bootstrap_servers=(kafka_broker.bootstrap,))
    seen: list[TailedRecord] = []

    def produce_more(_: Any) -> None:
        produce(kafka_broker, topic, [value(topic, **message_fields("late", i)) for i in range(3)])

    started = time.monotonic()
    summary = tail(connection, topic, seen.append, to_end=True, timeout_s=20, on_ready=produce_more)

    assert summary.stopped_by == "to-end"
    assert time.monotonic() - started < 10
    assert seen == []


def test_to_end_stops_while_messages_keep_arriving(kafka_broker: Any, fresh_topic: Any) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=3)
    before = [value(topic, **message_fields("before", i)) for i in range(6)]
    produce(kafka_broker, topic, before, one_batch_each=True, spread_over=3)
    connection = KafkaConnection(bootstrap_servers=(kafka_broker.bootstrap,))
    done = threading.Event()

    def keep_producing() -> None:
        producer = KafkaProducer(**kafka_broker.kafka_python_config())
        try:
            index = 0
            while not done.is_set():
                late = value(topic, **message_fields("late", index))
                producer.send(topic, value=late, partition=index % 3).get(10)
                index += 1
                time.sleep(0.02)
        finally:
            producer.close(5)

    producer = threading.Thread(target=keep_producing)
    seen: list[TailedRecord] = []
    started = time.monotonic()
    try:
        summary = tail(
            connection,
            topic,
            seen.append,
            from_beginning=True,
            to_end=True,
            timeout_s=30,
            on_ready=lambda _: producer.start(),
        )
    finally:
        done.set()
        if producer.is_alive():
            producer.join(15)

    assert summary.stopped_by == "to-end"
    assert time.monotonic() - started < 15
    shown = {record.value for record in seen}
    assert set(before) <= shown


# Terminal control sequences from a message: clear the screen, red, a bell; the 8-bit CSI
# (U+009B) and a right-to-left override (U+202E) that reorders what follows on screen.
HOSTILE_TEXT = "\x1b[2J\x1b[31mFAKE OK\x07 \x9b2J \u202edeppots"
NON_PRINTABLE = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.mark.usefixtures("local_env")
def test_table_output_shows_control_characters_escaped_never_raw(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=1)
    fields = message_fields("esc", 0, error_message=HOSTILE_TEXT, user_id="\x1b]0;pwned\x07")
    produce(kafka_broker, topic, [value(topic, **fields)])

    assert cli.main(["tail", "--topic", topic, "--from-beginning", "--max-messages", "1",
                     "--timeout", "20"]) == 0  # fmt: skip
    out = capsys.readouterr().out

    assert not any(char in out for char in NON_PRINTABLE)
    assert "\\x1b[2J\\x1b[31mFAKE" in out
    assert "\\x1b]0;pwned\\x07" in out


@pytest.mark.usefixtures("local_env")
def test_json_lines_escape_control_characters_and_keep_the_value(
    kafka_broker: Any, fresh_topic: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=1)
    message = prepare_record(
        message_fields("esc", 1, error_message=HOSTILE_TEXT), ContractSettings(topic=topic)
    ).message
    # Raw on the topic: JSON allows U+009B and U+202E unescaped inside strings.
    raw = json.dumps(message, ensure_ascii=False, indent=1).encode()
    assert "\x9b".encode() in raw
    produce(kafka_broker, topic, [raw, b"\x1b[2J not json \x07"], one_batch_each=True)

    assert cli.main(["tail", "--topic", topic, "--from-beginning", "--json", "--to-end",
                     "--timeout", "20"]) == 0  # fmt: skip
    captured = capsys.readouterr()

    assert not any(char in captured.out + captured.err for char in NON_PRINTABLE)
    (line,) = captured.out.splitlines()
    assert json.loads(line) == message
    assert "unreadable" in captured.err
