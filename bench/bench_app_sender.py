"""App-library benchmark: what one `send_document_access_exception` call adds to a request.

`python -m bench.bench_app_sender` starts a local Tansu broker (the test harness's
`TansuBroker`) and, in one run, with the same realistic messages (`bench_producer`'s):

1. the library: latency of each `send_document_access_exception(**fields)` call in the
   calling thread (validation, serialization and queueing; delivery is in the background),
   p50/p99 over `--calls` calls made back to back (the worst case: the delivery thread
   competes for the GIL all the time), and again paced at `--paced-rate` calls/s;
2. the naive way: `prepare_record`, then `producer.send(...)` and `producer.flush()` per
   call with the same producer settings, the guide's synchronous style;
3. the background sender's throughput: `--throughput-count` messages from the first call
   until `flush()` has every acknowledgement.

Prints a table. Target (issue 7): library p99 under 1 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = ROOT / "lambda_src"
if str(LAMBDA_SRC) not in sys.path:
    sys.path.insert(0, str(LAMBDA_SRC))

from bench.bench_producer import create_topic, print_table, realistic_messages  # noqa: E402
from document_exceptions.app import api  # noqa: E402 - after the path set-up above
from document_exceptions.connection import KafkaConnection  # noqa: E402
from document_exceptions.contract import ContractSettings, prepare_record  # noqa: E402
from document_exceptions.publisher import ProducerSettings, create_producer  # noqa: E402
from tests.harness.broker import TansuBroker  # noqa: E402

DEFAULT_CALLS = 10_000
DEFAULT_THROUGHPUT_COUNT = 20_000
DEFAULT_PACED_RATE = 2_000
TARGET_P99_MS = 1.0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def latency_row(label: str, seconds: Sequence[float]) -> tuple[str, ...]:
    ordered = sorted(seconds)
    micro = [value * 1e6 for value in ordered]
    return (
        label,
        f"{len(ordered):,}",
        f"{percentile(micro, 0.50):,.0f}",
        f"{percentile(micro, 0.99):,.0f}",
        f"{percentile(micro, 0.999):,.0f}",
        f"{micro[-1]:,.0f}",
    )


def configure_library(bootstrap: str, topic: str, spool_dir: str) -> None:
    api.configure(
        {
            "KAFKA_BOOTSTRAP_SERVERS": json.dumps([bootstrap]),
            "KAFKA_TOPIC": topic,
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": spool_dir,
            "DOCUMENT_EXCEPTIONS_BUFFER_SIZE": "50000",
        },
        environ={},
        django={},
    )


def timed_calls(
    call: Callable[..., None], messages: Sequence[dict[str, Any]], pace: float | None = None
) -> list[float]:
    """Seconds taken by each `call(**message)`; `pace` spaces the starts that far apart."""
    clock = time.perf_counter
    durations = []
    next_start = clock()
    for message in messages:
        if pace is not None:
            while clock() < next_start:
                pass
            next_start += pace
        started = clock()
        call(**message)
        durations.append(clock() - started)
    return durations


def library_latency(
    bootstrap: str, messages: Sequence[dict[str, Any]], paced_rate: int, spool_dir: str
) -> dict[str, list[float]]:
    topic = f"bench-app-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    configure_library(bootstrap, topic, spool_dir)
    send = api.send_document_access_exception
    try:
        for message in messages[:500]:  # warm-up: thread started, producer connected
            send(**message)
        if api.flush(30).delivered != 500:
            raise RuntimeError("library warm-up not delivered")
        back_to_back = timed_calls(send, messages)
        result = api.flush(60)
        if result.pending or result.spooled:
            raise RuntimeError(f"library run not delivered: {result}")
        paced = timed_calls(send, messages, pace=1 / paced_rate)
        result = api.flush(60)
        if result.pending or result.spooled:
            raise RuntimeError(f"library paced run not delivered: {result}")
    finally:
        api.shutdown(timeout=10)
    return {"back_to_back": back_to_back, "paced": paced}


def naive_latency(bootstrap: str, messages: Sequence[dict[str, Any]]) -> list[float]:
    """The guide's synchronous style: validate, serialize, send, flush, per call."""
    topic = f"bench-naive-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    contract = ContractSettings(topic=topic)
    producer = create_producer(KafkaConnection((bootstrap,)), ProducerSettings())

    def send_and_flush(**fields: Any) -> None:
        record = prepare_record(fields, contract).record
        future = producer.send(topic, value=record.value, key=record.key, headers=record.headers)
        producer.flush()
        if not future.succeeded():
            raise RuntimeError(f"naive send failed: {future.exception}")

    try:
        for message in messages[:50]:
            send_and_flush(**message)
        return timed_calls(send_and_flush, messages)
    finally:
        producer.close()


def sender_throughput(
    bootstrap: str, messages: Sequence[dict[str, Any]], spool_dir: str
) -> tuple[float, dict[str, Any]]:
    """msg/s from the first call until flush() has every acknowledgement."""
    topic = f"bench-app-throughput-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    configure_library(bootstrap, topic, spool_dir)
    send = api.send_document_access_exception
    try:
        send(**messages[0])
        api.flush(30)
        started = time.perf_counter()
        for message in messages:
            send(**message)
        result = api.flush(120)
        elapsed = time.perf_counter() - started
        if result.delivered != len(messages) or result.pending or result.spooled:
            raise RuntimeError(f"throughput run not fully delivered: {result}")
        stats = api.stats()
    finally:
        api.shutdown(timeout=10)
    return len(messages) / elapsed, stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_app_sender", description=__doc__)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--naive-calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--paced-rate", type=int, default=DEFAULT_PACED_RATE)
    parser.add_argument("--throughput-count", type=int, default=DEFAULT_THROUGHPUT_COUNT)
    args = parser.parse_args(argv)

    messages = realistic_messages(max(args.calls, args.naive_calls, args.throughput_count))
    mean_size = statistics.mean(len(prepare_record(m).record.value) for m in messages[:1000])
    print(f"realistic messages, {mean_size:,.0f} bytes of JSON on average")

    with TansuBroker() as broker, tempfile.TemporaryDirectory(prefix="bench-spool-") as spool:
        bootstrap = broker.bootstrap
        library = library_latency(bootstrap, messages[: args.calls], args.paced_rate, spool)
        naive = naive_latency(bootstrap, messages[: args.naive_calls])
        rate, stats = sender_throughput(bootstrap, messages[: args.throughput_count], spool)

    rows = [
        latency_row("library send, back to back", library["back_to_back"]),
        latency_row(f"library send, paced {args.paced_rate:,}/s", library["paced"]),
        latency_row("naive send + flush per call", naive),
    ]
    print_table(
        f"added latency in the calling thread, microseconds (target: library p99 < "
        f"{TARGET_P99_MS:g} ms)",
        ("path", "calls", "p50", "p99", "p99.9", "max"),
        rows,
    )
    library_p50 = statistics.median(library["back_to_back"])
    naive_p50 = statistics.median(naive)
    library_p99 = percentile(sorted(library["back_to_back"]), 0.99) * 1000
    naive_rate = len(naive) / sum(naive)
    print_table(
        "throughput",
        ("path", "messages", "msg/s"),
        [
            ("library background sender", f"{args.throughput_count:,}", f"{rate:,.0f}"),
            ("naive send + flush per call", f"{len(naive):,}", f"{naive_rate:,.0f}"),
        ],
    )
    print(
        f"\nlibrary p50 is {naive_p50 / library_p50:,.0f}x lower than the naive way; "
        f"library p99 {library_p99:.3f} ms: "
        f"{'meets' if library_p99 < TARGET_P99_MS else 'MISSES'} the < {TARGET_P99_MS:g} ms "
        f"target. Sender counters: delivered={stats['delivered']} spooled={stats['spooled']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
