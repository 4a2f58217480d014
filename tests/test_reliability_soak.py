"""Soak: 100,000 messages through the producer handler's SQS batch path in one process.

1,000 invocations of 100 records each, in the SQS event shape, against the real local broker,
reusing one container's state as Lambda does. Memory is the process's resident set size
(/proc/self/statm; the peak from getrusage where /proc is missing), measured after a warm-up
invocation (imports, the producer, the connection) and again at the end, both after a
garbage collection. The growth must stay below GROWTH_BOUND_MB; every message must be
acknowledged and be on the topic. The figures (messages/s, memory at start and end) are
printed to the terminal with or without -s, stored as JUnit properties, and written to
soak.json in the test's tmp dir.

Measured on the 2-core build machine: about 12,000 messages/s, 100,000 in 8-9 s, RSS growth
below 1 MB. Marked `soak`, so `-m "not soak"` leaves it out.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.figures import report_figures
from tests.ops_helpers import LambdaContext, message_fields, sqs_event, without_kafka_environment

MESSAGES = 100_000
BATCH = 100
GROWTH_BOUND_MB = 20.0


def rss_mb() -> float:
    """Resident set size now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def handler_on_topic(
    kafka_broker: Any, fresh_topic: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, str]]:
    """The producer handler module with a fresh container state, publishing to a new topic."""
    import handler  # noqa: PLC0415 - lambda_src/handler.py, the Lambda's entry module

    topic = kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=1)
    without_kafka_environment(monkeypatch)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))
    monkeypatch.setenv("KAFKA_TOPIC", topic)
    handler.reset()
    yield handler, topic
    handler.reset()


@pytest.mark.soak
@pytest.mark.timeout(300)
def test_100k_messages_through_the_sqs_batch_path_without_memory_growth(
    handler_on_topic: tuple[Any, str],
    kafka_broker: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    handler, topic = handler_on_topic
    run = uuid.uuid4().hex[:8]
    warm_up = [json.dumps(message_fields(f"{run}-warm", i)) for i in range(BATCH)]
    assert handler.handler(sqs_event(warm_up, "warm"), LambdaContext()) == {"batchItemFailures": []}
    gc.collect()
    start_mb = rss_mb()
    failures = 0
    started = time.perf_counter()
    for number in range(MESSAGES // BATCH):
        batch = [
            json.dumps(message_fields(f"{run}-{number}", i, additional_context={"n": i}))
            for i in range(BATCH)
        ]
        response = handler.handler(sqs_event(batch, f"b{number}"), LambdaContext())
        failures += len(response["batchItemFailures"])
    seconds = time.perf_counter() - started
    gc.collect()
    end_mb = rss_mb()

    on_topic = kafka_broker.read_all(topic, timeout=60)
    figures = {
        "messages": MESSAGES,
        "batch": BATCH,
        "seconds": round(seconds, 2),
        "messages_per_second": round(MESSAGES / seconds),
        "rss_start_mb": round(start_mb, 1),
        "rss_end_mb": round(end_mb, 1),
        "rss_growth_mb": round(end_mb - start_mb, 1),
        "growth_bound_mb": GROWTH_BOUND_MB,
        "reported_failed": failures,
        "on_topic": len(on_topic),
    }
    (tmp_path / "soak.json").write_text(json.dumps(figures, indent=2))
    report_figures(
        request,
        "soak",
        figures,
        f"{MESSAGES} messages in {seconds:.1f} s = {MESSAGES / seconds:,.0f} msg/s; "
        f"RSS {start_mb:.1f} MB -> {end_mb:.1f} MB (bound +{GROWTH_BOUND_MB:g} MB); "
        f"figures in {tmp_path / 'soak.json'}",
    )

    assert failures == 0
    assert len(on_topic) == MESSAGES + BATCH  # the warm-up batch too
    assert end_mb - start_mb < GROWTH_BOUND_MB
