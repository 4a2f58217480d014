"""Publish one message, validated by the contract, and report where the broker put it.

The fields come from a JSON file and/or one flag per contract field (flags win); the message
goes through ``contract.prepare_record`` and the producer Lambda's own ``Publisher``, so a
smoke test after a deploy exercises the same code as the function.

The topic must exist: a producer's metadata request makes brokers that allow it (Tansu,
Apache Kafka's default) create a missing topic with their default partitions, so the topic
is looked up first with automatic creation off, and a missing one is refused.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer

from document_exceptions.connection import ConnectionResolver, KafkaConnection
from document_exceptions.contract import (
    FIELDS,
    ContractSettings,
    FieldError,
    PreparedRecord,
    ValidationError,
    parse_message,
    prepare_record,
)
from document_exceptions.ops.errors import OpsError
from document_exceptions.ops.kafka_clients import close_quietly, open_client, still_trying
from document_exceptions.ops.target import missing_topic_error
from document_exceptions.publisher import ProducerSettings, Publisher, PublishResult

INTEGER_FIELDS = frozenset({"http_status_code"})
OBJECT_FIELDS = frozenset({"additional_context"})
MIN_TIMEOUT_S = 1.0
NOT_SENT = "the message was NOT sent"


def load_message_file(path: str) -> dict[str, Any]:
    """The fields of a JSON file (``-`` reads standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise OpsError(f"cannot read {path}: {exc.strerror or exc}") from None
    data = parse_message(text)  # ValidationError naming `message` for invalid JSON
    if not isinstance(data, dict):
        raise ValidationError(
            [FieldError("message", f"{path} holds a JSON {type(data).__name__}, not an object")]
        )
    return data


def fields_from_flags(values: Mapping[str, str | None]) -> tuple[dict[str, Any], list[FieldError]]:
    """Contract fields given as flags (text), converted where the contract wants a number or
    an object, and an error for each flag that does not convert."""
    fields: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, raw in values.items():
        if raw is None:
            continue
        if name in INTEGER_FIELDS:
            try:
                fields[name] = int(raw)
            except ValueError:
                errors.append(FieldError(name, f"{raw!r} is not an integer"))
        elif name in OBJECT_FIELDS:
            try:
                fields[name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                errors.append(FieldError(name, f"not valid JSON ({exc.msg})"))
        else:
            fields[name] = raw
    return fields, errors


def prepare(
    file_fields: Mapping[str, Any] | None,
    flag_values: Mapping[str, str | None],
    contract: ContractSettings,
) -> PreparedRecord:
    """The record for the file's fields overridden by the flags; raises ValidationError with
    every problem, the flags' conversion errors and the contract's alike."""
    unknown = set(flag_values) - set(FIELDS)
    if unknown:
        raise ValueError(f"not contract fields: {', '.join(sorted(unknown))}")
    flag_fields, errors = fields_from_flags(flag_values)
    fields = {**(file_fields or {}), **flag_fields}
    for error in errors:
        fields.pop(error.field, None)
    try:
        record = prepare_record(fields, contract)
    except ValidationError as invalid:
        bad_flags = {error.field for error in errors}
        errors += [error for error in invalid.errors if error.field not in bad_flags]
    if errors:
        raise ValidationError(errors)
    return record


@dataclass(frozen=True)
class SendResult:
    topic: str
    partition: int
    offset: int
    record: PreparedRecord

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "published",
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "message": self.record.message,
            "truncated": list(self.record.truncated),
        }


def producer_settings(timeout_s: float) -> ProducerSettings:
    """The producer's settings with every wait bounded by ``timeout_s``."""
    total_ms = int(max(timeout_s, MIN_TIMEOUT_S) * 1000)
    defaults = ProducerSettings()
    request_ms = min(defaults.request_timeout_ms, total_ms - defaults.linger_ms)
    return defaults.with_overrides(
        delivery_timeout_ms=total_ms,
        request_timeout_ms=request_ms,
        bootstrap_timeout_ms=min(defaults.bootstrap_timeout_ms, total_ms),
        max_block_ms=min(defaults.max_block_ms, total_ms),
    )


def require_topic(
    connection: KafkaConnection, topic: str, *, timeout_s: float, deployed: bool = False
) -> tuple[int, ...]:
    """The partitions of ``topic``, asked with automatic topic creation off; raises OpsError
    when it does not exist (the hint fits a deployed or a local target)."""
    consumer = open_client(
        KafkaConsumer,
        connection,
        timeout_s=timeout_s,
        group_id=None,
        enable_auto_commit=False,
        allow_auto_create_topics=False,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
    finally:
        close_quietly(consumer)
    if not partitions:
        raise missing_topic_error(topic, deployed=deployed)
    return tuple(sorted(partitions))


def send_message(
    resolver: ConnectionResolver,
    contract: ContractSettings,
    record: PreparedRecord,
    *,
    timeout_s: float = 30.0,
    deployed: bool = False,
) -> SendResult:
    """Publish a record made by ``contract.prepare_record`` to the existing topic and return
    the broker's partition and offset; raises OpsError when the topic does not exist or the
    record was not acknowledged within ``timeout_s`` (both together)."""
    started = time.monotonic()
    # Reaching the brokers is bounded as the producer's own bootstrap would be.
    connect_s = min(timeout_s, ProducerSettings().bootstrap_timeout_ms / 1000)
    try:
        require_topic(resolver.get(), contract.topic, timeout_s=connect_s, deployed=deployed)
    except OpsError as exc:
        hint = f"{exc.hint}; {NOT_SENT}" if exc.hint else NOT_SENT
        raise OpsError(f"not published to {contract.topic}: {exc.message}", hint) from None
    remaining_s = max(MIN_TIMEOUT_S, timeout_s - (time.monotonic() - started))
    publisher = Publisher(
        resolver, producer_settings(remaining_s), contract, on_connect_progress=still_trying
    )
    try:
        (result,) = publisher.publish([record.record], timeout_s=remaining_s)
    finally:
        publisher.close(timeout_s=min(remaining_s, 5.0))
    if not result.published:
        raise OpsError(
            f"not published to {contract.topic}: {failure_text(result)}",
            f"the connection with `document-exceptions doctor`; {NOT_SENT}",
        )
    assert result.partition is not None
    assert result.offset is not None
    return SendResult(contract.topic, result.partition, result.offset, record)


def failure_text(result: PublishResult) -> str:
    """Why a record was not published, without the exception class names the publisher
    puts in front (``KafkaTimeoutError: ...``) for its log."""
    if result.error is None:
        return "not acknowledged"
    text = " ".join(str(result.error).split())
    prefix = f"{type(result.error).__name__}: "
    while text.startswith(prefix):
        text = text.removeprefix(prefix)
    return text or type(result.error).__name__
