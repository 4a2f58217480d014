"""Producer benchmark: the handler's SQS batch path against a bare kafka-python producer.

`python -m bench.bench_producer` starts a local Tansu broker (the test harness's
`TansuBroker`, no pytest), publishes the same realistic messages through

1. the Lambda handler's SQS batch path (parse, validate, serialize, send, flush per batch),
2. a bare kafka-python loop with the same producer settings and pre-encoded values,

and prints msg/s for both and their ratio, plus cold start (handler import and first
invocation against a bare `import kafka`), the Lambda asset size, and bytes per message
for each compression codec. `--sweep` also measures the producer-setting candidates whose
figures sit beside `ProducerSettings` in `document_exceptions/publisher.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = ROOT / "lambda_src"
if str(LAMBDA_SRC) not in sys.path:
    sys.path.insert(0, str(LAMBDA_SRC))

from kafka import KafkaProducer  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.record.default_records import DefaultRecordBatchBuilder  # noqa: E402

from document_exceptions.contract import (  # noqa: E402 - after the path set-up above
    COMMON_EXCEPTION_TYPES,
    ContractSettings,
    prepare_record,
)
from document_exceptions.publisher import ProducerSettings  # noqa: E402
from tests.harness.broker import TansuBroker  # noqa: E402

DEFAULT_COUNT = 20_000
SQS_BATCH_SIZES = (100, 1_000)

_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "python-requests/2.32.3",
)
_FRAMES = (
    'File "/app/attachments/views.py", line {n}, in download_document\n'
    "    body = s3.get_object(Bucket=bucket, Key=s3_key)['Body'].read()\n",
    'File "/app/attachments/services.py", line {n}, in fetch\n'
    "    return self._client.get_object(**params)\n",
    'File "/usr/local/lib/python3.12/site-packages/botocore/client.py", line {n}, in _api_call\n'
    "    return self._make_api_call(operation_name, kwargs)\n",
)


def realistic_messages(count: int, seed: int = 20251021) -> list[dict[str, Any]]:
    """Messages like the guide's, 0.5-1.5 KB of JSON; about 30% carry a stack trace."""
    rng = random.Random(seed)
    types = [*COMMON_EXCEPTION_TYPES, "document_download_error"]
    messages = []
    for index in range(count):
        user = f"user{rng.randrange(10_000)}@drworkplace.microsoft.com"
        order = f"SB{1_000_000 + rng.randrange(9_000_000)}"
        name = f"{rng.choice(('contract', 'invoice', 'scan', 'report'))}-{index}.pdf"
        message: dict[str, Any] = {
            "order_req_id": order,
            "s3_key": f"documents/{user.split('@', maxsplit=1)[0]}/{name}",
            "user_id": user,
            "exception_type": rng.choice(types),
            "error_message": "User does not have permission to access this document "
            f"(request {uuid.UUID(int=rng.getrandbits(128))})",
            "access_type": rng.choice(("download", "upload")),
            "ip_address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "user_agent": rng.choice(_USER_AGENTS),
            "session_id": f"sess_{rng.getrandbits(64):016x}",
            "file_name": name,
            "additional_context": {"bucket": "documents-prod", "attempt": rng.randrange(1, 4)},
        }
        if rng.random() < 0.3:
            frames = "".join(rng.choice(_FRAMES).format(n=rng.randrange(20, 900)) for _ in range(3))
            message["stack_trace"] = (
                f"Traceback (most recent call last):\n{frames}"
                "botocore.exceptions.ClientError: An error occurred (AccessDenied) "
                "when calling the GetObject operation: Access Denied"
            )
        messages.append(message)
    return messages


def sqs_events(bodies: Sequence[str], batch_size: int) -> list[dict[str, Any]]:
    """SQS event-source batches of `batch_size` records, shaped as Lambda delivers them."""
    events = []
    for start in range(0, len(bodies), batch_size):
        records = []
        for index, body in enumerate(bodies[start : start + batch_size], start):
            records.append(
                {
                    "messageId": str(uuid.UUID(int=index)),
                    "receiptHandle": f"handle-{index}",
                    "body": body,
                    "attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": "1760000000000",
                        "SenderId": "AIDAEXAMPLE",
                        "ApproximateFirstReceiveTimestamp": "1760000000001",
                    },
                    "messageAttributes": {},
                    "md5OfBody": "0" * 32,
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:document-exceptions",
                    "awsRegion": "eu-west-1",
                }
            )
        events.append({"Records": records})
    return events


@dataclass
class LambdaContext:
    """The parts of the Lambda context object the handler and Powertools read."""

    function_name: str = "document-exceptions-producer"
    function_version: str = "$LATEST"
    invoked_function_arn: str = (
        "arn:aws:lambda:eu-west-1:123456789012:function:document-exceptions-producer"
    )
    memory_limit_in_mb: int = 512
    aws_request_id: str = "bench"
    log_group_name: str = "/aws/lambda/document-exceptions-producer"
    log_stream_name: str = "bench"
    timeout_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


def create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


@dataclass
class Rate:
    """One timed run: messages per second of wall time, CPU microseconds per message."""

    msg_per_s: float
    cpu_us_per_msg: float


def bare_producer_rate(
    bootstrap: str, topic: str, records: Sequence[Any], kafka_kwargs: dict[str, Any]
) -> Rate:
    """A plain send loop with pre-encoded key, value and headers, one flush at the end."""
    producer = KafkaProducer(bootstrap_servers=[bootstrap], **kafka_kwargs)
    try:
        producer.send(topic, value=records[0].value, key=records[0].key).get(30)  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        futures = [
            producer.send(topic, value=r.value, key=r.key, headers=r.headers) for r in records
        ]
        producer.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        failed = sum(1 for future in futures if not future.succeeded())
        if failed:
            raise RuntimeError(f"bare producer: {failed} records not acknowledged")
    finally:
        producer.close()
    return Rate(len(records) / elapsed, cpu / len(records) * 1e6)


@contextlib.contextmanager
def environment(**variables: str | None) -> Iterator[None]:
    """Set these environment variables (``None``: unset) for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in variables}
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def handler_environment(bootstrap: str, topic: str) -> contextlib.AbstractContextManager[None]:
    return environment(
        KAFKA_BOOTSTRAP_SERVERS=json.dumps([bootstrap]),
        KAFKA_TOPIC=topic,
        POWERTOOLS_SERVICE_NAME="document-exceptions-producer",
        POWERTOOLS_METRICS_NAMESPACE="DocumentExceptions/Bench",
        POWERTOOLS_LOG_LEVEL="WARNING",
        AWS_LAMBDA_FUNCTION_NAME="document-exceptions-producer",
    )


def handler_path_rate(bootstrap: str, topic: str, events: Sequence[dict[str, Any]]) -> Rate:
    """`handler.handler` over SQS batch events, Powertools output included (to a buffer)."""
    with handler_environment(bootstrap, topic):
        handler = importlib.import_module("handler")
        handler.reset()  # a new container: reads KAFKA_TOPIC again, new producer
        context = LambdaContext()
        with contextlib.redirect_stdout(io.StringIO()):
            handler.handler(sqs_events([events[0]["Records"][0]["body"]], 1)[0], context)
            count = 0
            started, cpu = time.perf_counter(), time.process_time()
            for event in events:
                response = handler.handler(event, context)
                if response["batchItemFailures"]:
                    raise RuntimeError(f"handler reported failures: {response}")
                count += len(event["Records"])
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        handler.reset()
    return Rate(count / elapsed, cpu / count * 1e6)


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ordered = sorted(samples)
    return (
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, round(len(ordered) * 0.99))] * 1000,
    )


def direct_invoke_latency(
    bootstrap: str, topic: str, messages: Sequence[dict[str, Any]], records: Sequence[Any]
) -> dict[str, tuple[float, float]]:
    """p50/p99 of one synchronous direct invocation, against one bare send + get."""
    producer = KafkaProducer(
        bootstrap_servers=[bootstrap], **ProducerSettings.from_environment().kafka_kwargs()
    )
    bare = []
    try:
        for record in records[: len(messages)]:
            started = time.perf_counter()
            future = producer.send(
                topic, value=record.value, key=record.key, headers=record.headers
            )
            producer.flush()
            future.get(10)
            bare.append(time.perf_counter() - started)
    finally:
        producer.close()
    with handler_environment(bootstrap, topic):
        handler = importlib.import_module("handler")
        handler.reset()
        context = LambdaContext()
        invoked = []
        with contextlib.redirect_stdout(io.StringIO()):
            handler.handler(messages[0], context)  # warm: producer created
            for message in messages:
                started = time.perf_counter()
                response = handler.handler(message, context)
                invoked.append(time.perf_counter() - started)
                if response["published"] != 1:
                    raise RuntimeError(f"direct invocation failed: {response}")
        handler.reset()
    return {
        "handler direct invocation, one message": percentiles(invoked),
        "bare kafka-python send + flush (same settings)": percentiles(bare),
    }


COLD_START_SCRIPT = """
import json, sys, time
started, started_cpu = time.perf_counter(), time.process_time()
{import_line}
imported = time.perf_counter()
result = {{"import_s": imported - started, "import_cpu_s": time.process_time() - started_cpu}}
if {invoke!r} == "direct":
    from bench.bench_producer import LambdaContext
    event = {{"messages": [{message}]}}
    invoked = time.perf_counter()
    response = handler.handler(event, LambdaContext())
    result["first_invoke_s"] = time.perf_counter() - invoked
    result["ok"] = response["results"][0]["status"] == "published"
if {invoke!r} == "sqs":
    from bench.bench_producer import LambdaContext, sqs_events
    (event,) = sqs_events([json.dumps({message})], 1)
    invoked = time.perf_counter()
    response = handler.handler(event, LambdaContext())
    result["first_invoke_s"] = time.perf_counter() - invoked
    result["ok"] = response["batchItemFailures"] == []
print("RESULT " + json.dumps(result))
"""


def cold_start(
    bootstrap: str, topic: str, message: dict[str, Any], runs: int = 3
) -> dict[str, float]:
    """Median import and first-invocation times in fresh interpreters."""

    def run(import_line: str, invoke: str) -> dict[str, Any]:
        script = COLD_START_SCRIPT.format(
            import_line=import_line, invoke=invoke, message=json.dumps(message)
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAMBDA_SRC)]),
            "KAFKA_BOOTSTRAP_SERVERS": json.dumps([bootstrap]),
            "KAFKA_TOPIC": topic,
            "POWERTOOLS_SERVICE_NAME": "document-exceptions-producer",
            "POWERTOOLS_METRICS_NAMESPACE": "DocumentExceptions/Bench",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "AWS_LAMBDA_FUNCTION_NAME": "document-exceptions-producer",
        }
        output = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
        line = next(line for line in output.splitlines() if line.startswith("RESULT "))
        return json.loads(line.removeprefix("RESULT "))

    # Interleaved, so a busy moment on a shared machine hits every kind of run alike.
    kafka_runs, handler_runs, sqs_runs = [], [], []
    for _ in range(runs):
        kafka_runs.append(run("import kafka", ""))
        handler_runs.append(run("import handler", "direct"))
        sqs_runs.append(run("import handler", "sqs"))
    if not all(r["ok"] for r in handler_runs + sqs_runs):
        raise RuntimeError("first invocation did not publish")
    return {
        "import kafka": statistics.median(r["import_s"] for r in kafka_runs),
        "import handler": statistics.median(r["import_s"] for r in handler_runs),
        # CPU: steadier than wall time where other processes share the cores.
        "import kafka, CPU": statistics.median(r["import_cpu_s"] for r in kafka_runs),
        "import handler, CPU": statistics.median(
            r["import_cpu_s"] for r in handler_runs + sqs_runs
        ),
        "first invocation": statistics.median(r["first_invoke_s"] for r in handler_runs),
        # The SQS path also loads Powertools' batch processor on its first event.
        "first SQS invocation": statistics.median(r["first_invoke_s"] for r in sqs_runs),
    }


def asset_size() -> tuple[int, int]:
    """(unpacked bytes, wheel bytes) of the Lambda's code plus the wheels in .wheelhouse."""
    code = sum(
        path.stat().st_size
        for path in LAMBDA_SRC.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    wheels = list((ROOT / ".wheelhouse").glob("*.whl"))
    unpacked = code
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            unpacked += sum(info.file_size for info in archive.infolist())
    return unpacked, code + sum(wheel.stat().st_size for wheel in wheels)


def wire_bytes_per_message(
    records: Sequence[Any], compression: str | None, batch_size: int
) -> float:
    """Bytes per message in v2 record batches as kafka-python builds them for the wire."""
    codec = KafkaProducer._COMPRESSORS[compression][1]
    total = 0
    index = 0
    while index < len(records):
        builder = DefaultRecordBatchBuilder(2, codec, False, -1, -1, -1, batch_size)
        offset = 0
        while index < len(records):
            record = records[index]
            if builder.append(offset, 0, record.key, record.value, record.headers) is None:
                break
            offset += 1
            index += 1
        total += len(builder.build())
    return total / len(records)


def sweep(bootstrap: str, records: Sequence[Any], rounds: int = 3) -> list[tuple[str, float]]:
    """msg/s of a bare producer for each candidate setting (fresh topic each)."""
    base = ProducerSettings()
    candidates: list[tuple[str, dict[str, Any]]] = [
        ("kafka-python defaults (idempotent, acks=all)", {}),
    ]
    for linger in (0, 5, 20, 50):
        candidates.append(
            (f"linger_ms={linger}", base.with_overrides(linger_ms=linger).kafka_kwargs())
        )
    for size in (16_384, 65_536, 262_144, 524_288, 1_000_000):
        candidates.append(
            (f"batch_size={size}", base.with_overrides(batch_size=size).kafka_kwargs())
        )
    for in_flight in (1, 5):
        overrides = {"max_in_flight_requests_per_connection": in_flight}
        candidates.append(
            (f"max_in_flight={in_flight}", base.with_overrides(**overrides).kafka_kwargs())
        )
    for codec in (None, "gzip", "lz4", "zstd"):
        candidates.append(
            (
                f"compression={codec or 'none'}",
                base.with_overrides(compression_type=codec).kafka_kwargs(),
            )
        )
    runs: dict[str, list[Rate]] = {label: [] for label, _ in candidates}
    order = random.Random(7)
    for _ in range(rounds):  # interleaved, shuffled rounds: noise and warm-up hit all alike
        for label, kwargs in order.sample(candidates, len(candidates)):
            topic = f"sweep-{uuid.uuid4().hex[:8]}"
            create_topic(bootstrap, topic)
            runs[label].append(bare_producer_rate(bootstrap, topic, records, kwargs))
    rows = []
    for label, rates in runs.items():
        rows.append(
            (
                label,
                f"{statistics.median(rate.msg_per_s for rate in rates):,.0f}",
                f"{statistics.median(rate.cpu_us_per_msg for rate in rates):,.1f}",
                " / ".join(f"{rate.msg_per_s:,.0f}" for rate in rates),
            )
        )
    print_table(
        f"settings sweep: bare producer, {len(records):,} messages, median of {rounds} rounds, "
        "one setting changed from ProducerSettings() per row",
        ("candidate", "msg/s", "CPU us/msg", "runs msg/s"),
        rows,
    )
    return [(label, statistics.median(r.msg_per_s for r in rates)) for label, rates in runs.items()]


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    line = "+".join("-" * (width + 2) for width in widths)
    print(f"\n{title}")
    print(" | ".join(str(cell).ljust(width) for cell, width in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print(" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_producer", description=__doc__)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--sweep", action="store_true", help="also measure setting candidates")
    parser.add_argument("--sweep-count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-count", type=int, default=500)
    args = parser.parse_args(argv)

    contract = ContractSettings()
    messages = realistic_messages(args.count)
    records = [prepare_record(message, contract).record for message in messages]
    bodies = [json.dumps(message) for message in messages]
    mean_value = statistics.mean(len(record.value) for record in records)
    settings = ProducerSettings.from_environment()  # PRODUCER_* variables apply to every path
    print(
        f"{args.count:,} messages, {mean_value:,.0f} bytes of JSON on average; producer settings: "
        + ", ".join(f"{k}={v}" for k, v in settings.kafka_kwargs().items())
    )

    with TansuBroker() as broker, handler_environment(broker.bootstrap, "unused"):
        # The handler tunes the garbage collector in Lambda (see handler.tune_garbage_collector);
        # do it first so that every path, the bare loop included, runs under the same settings.
        importlib.import_module("handler").tune_garbage_collector()
        bootstrap = broker.bootstrap
        if args.sweep:
            sweep(bootstrap, records[: args.sweep_count])

        paths: dict[str, Any] = {"bare kafka-python loop, same settings, pre-encoded": None}
        for batch_size in SQS_BATCH_SIZES:
            paths[f"handler SQS batch path, {batch_size:,} records/batch"] = sqs_events(
                bodies, batch_size
            )
        runs: dict[str, list[Rate]] = {label: [] for label in paths}
        for _ in range(args.rounds):  # interleaved: a noisy moment hits every path alike
            for label, events in paths.items():
                topic = f"bench-{uuid.uuid4().hex[:8]}"
                create_topic(bootstrap, topic)
                if events is None:
                    rate = bare_producer_rate(bootstrap, topic, records, settings.kafka_kwargs())
                else:
                    rate = handler_path_rate(bootstrap, topic, events)
                runs[label].append(rate)
        bare = statistics.median(rate.msg_per_s for rate in next(iter(runs.values())))
        bare_cpu = statistics.median(rate.cpu_us_per_msg for rate in next(iter(runs.values())))
        rows = []
        for label, rates in runs.items():
            msg_per_s = statistics.median(rate.msg_per_s for rate in rates)
            cpu = statistics.median(rate.cpu_us_per_msg for rate in rates)
            rows.append(
                (
                    label,
                    f"{msg_per_s:,.0f}",
                    f"{msg_per_s / bare:.2f}",
                    f"{cpu:,.1f}",
                    f"{bare_cpu / cpu:.2f}",
                    " / ".join(f"{rate.msg_per_s:,.0f}" for rate in rates),
                )
            )
        print_table(
            f"throughput, {args.count:,} messages, median of {args.rounds} interleaved rounds "
            "(target: handler >= 0.80 of bare)",
            ("path", "msg/s", "ratio", "CPU us/msg", "CPU ratio", "runs msg/s"),
            rows,
        )

        topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic)
        latency = direct_invoke_latency(bootstrap, topic, messages[: args.latency_count], records)
        print_table(
            f"single-message latency on a warm container ({args.latency_count:,} calls)",
            ("path", "p50 ms", "p99 ms"),
            [(label, f"{p50:.2f}", f"{p99:.2f}") for label, (p50, p99) in latency.items()],
        )

        topic = f"bench-cold-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic)
        cold = cold_start(bootstrap, topic, messages[0])
        print_table(
            "cold start (median of 3 fresh interpreters)",
            ("step", "ms"),
            [(step, f"{seconds * 1000:,.0f}") for step, seconds in cold.items()],
        )

    unpacked, packed = asset_size()
    wire_rows = []
    for codec in (None, "gzip", "lz4", "zstd"):
        per_message = wire_bytes_per_message(records, codec, settings.batch_size)
        wire_rows.append(
            (codec or "none", f"{per_message:,.0f}", f"{mean_value / per_message:.1f}x")
        )
    print_table(
        f"bytes on the wire per message (batch_size={settings.batch_size:,})",
        ("compression", "bytes/msg", "vs JSON"),
        wire_rows,
    )
    print(
        f"\nLambda asset (lambda_src + .wheelhouse wheels): {unpacked / 1e6:.1f} MB unpacked, "
        f"{packed / 1e6:.1f} MB as wheels"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
