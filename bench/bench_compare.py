"""`make bench`: the product's publishing paths against the baselines, one broker, one run.

One local Tansu broker (the test harness's `TansuBroker`), the same realistic messages
(`guide_shaped_messages`: the guide's example shapes with varied fields, 700-1,024 bytes of
JSON each) through every path, printing msg/s and the ratios the issue sets as targets:

1. the Lambda handler's SQS batch path (`handler.handler`, SQS events of the deployed batch
   size, `ProducerFunctionSettings.sqs_batch_size`),
2. the app-side library's background sender (`send_document_access_exception` for every
   message, then `flush()`),
3. a bare kafka-python producer with its default settings (acks='all'), `json.dumps` per
   message: the naive baseline,
4. send + flush per message (the guide's synchronous style), on a subset,
5. confluent-kafka (librdkafka) with the same acks and linger: the fastest peer,

plus four reference rows: A, kafka-python's ceiling (a bare loop with the product's
settings and pre-encoded values); B, librdkafka with the product's guarantees; C, row 3 in
an interpreter without the `crc32c` package (kafka-python as `pip install kafka-python`
alone gives it); D, not the product: the handler's per-message work (`prepare_json`) with
confluent-kafka producing, to show what the confluent-relative targets would take. All but
row 4 run in interleaved rounds (a noisy moment hits every path alike; medians are reported,
ratios are quotients of the medians). Then: single-message
direct-invoke latency and the library's `send` latency in the calling thread; cold start in
fresh interpreters, with the bytecode cache primed and with every non-stdlib module compiled
at import (the Lambda asset carries no .pyc); the handler path per compression codec, with
bytes on the wire counted by a `FaultyRelay` in front of a second Tansu (a relay in front of
the first would see only the bootstrap connection: clients follow the address a broker
advertises), and per SQS batch size; the Lambda asset size from `cdk.out`. If a throughput
target of the handler path is missed: its CPU per message, part by part, and a cProfile.

Everything printed is also written as JSON (default `.bench/results.json`). Functions of
`bench_producer` and `bench_app_sender` are reused; what they lack is here.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import importlib.metadata
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer as ConfluentProducer
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from bench.bench_app_sender import (
    library_latency,
    naive_latency,
    percentile,
    sender_throughput,
)
from bench.bench_producer import (
    ROOT,
    LambdaContext,
    Rate,
    bare_producer_rate,
    cold_start,
    create_topic,
    direct_invoke_latency,
    environment,
    handler_environment,
    handler_path_rate,
    sqs_events,
)
from bench.messages import guide_shaped_messages
from bench.report import print_results, write_results
from document_exceptions.contract import (
    ContractSettings,
    PreparedRecord,
    prepare_json,
    prepare_record,
)
from document_exceptions.publisher import (
    COMPRESSION_CODECS,
    ProducerSettings,
    environment_variable,
)
from stacks.assets import PRODUCER_ASSET
from stacks.config import ProducerFunctionSettings
from tests.harness.broker import TansuBroker
from tests.harness.relay import RelayedBroker

DEFAULT_RESULTS = ROOT / ".bench" / "results.json"
LAMBDA_HANDLER = "handler.handler"


@dataclass(frozen=True)
class BenchConfig:
    """What one run measures; the defaults are `make bench`, the smoke test shrinks them."""

    count: int = 20_000
    rounds: int = 3
    # Records per SQS event: what the event source mapping delivers when deployed.
    sqs_batch: int = ProducerFunctionSettings().sqs_batch_size
    sync_count: int = 2_000  # row 4 is ~40x slower than the others: a subset keeps it short
    latency_invokes: int = 1_000
    library_calls: int = 10_000
    paced_rate: int = 2_000
    cold_start_runs: int = 5
    profile_count: int = 5_000  # cProfile slows the path ~15x: a subset is enough for shares
    profile: str = "auto"  # auto: only when a throughput target is missed; always; never
    results_path: Path = DEFAULT_RESULTS
    seed: int = 20251021


# --- the rows -----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the throughput table."""

    key: str
    number: str
    label: str
    messages: int
    runs: list[float] = field(default_factory=list)
    cpu_us_per_msg: list[float] = field(default_factory=list)

    @property
    def msg_per_s(self) -> float:
        return statistics.median(self.runs)

    @property
    def cpu(self) -> float | None:
        return statistics.median(self.cpu_us_per_msg) if self.cpu_us_per_msg else None


@dataclass(frozen=True)
class Ratio:
    """A target ratio of two rows' msg/s."""

    name: str
    numerator: str
    denominator: str
    target: float | None
    stretch: float | None = None


RATIOS = (
    Ratio("row 1 / row 3: handler vs naive kafka-python", "handler_sqs", "kafka_defaults", 10.0),
    Ratio("row 1 / row 5: handler vs confluent-kafka", "handler_sqs", "confluent", 0.4, 0.6),
    Ratio("row 2 / row 5: app sender vs confluent-kafka", "app_sender", "confluent", 0.4, 0.6),
    Ratio("row 1 / row A: handler vs bare, same settings (issue 11)", "handler_sqs", "bare", 0.9),
    Ratio(
        "row 1 / row C: handler vs kafka-python without crc32c", "handler_sqs", "no_crc32c", None
    ),
    Ratio(
        "row D / row 5: the handler's work on librdkafka vs confluent-kafka",
        "confluent_handler_work",
        "confluent",
        None,
    ),
)
# A missed target on a ratio of these rows triggers the profile (profile="auto").
THROUGHPUT_RATIOS = ("handler_sqs",)
# Records per SQS event (the event source mapping's batch size) tried besides config.sqs_batch.
SQS_BATCH_VARIANTS = (10, 100, 1_000)
TARGET_SEND_P99_MS = 1.0
# `import handler` in a fresh interpreter against a bare `import kafka` (issue 11).
TARGET_IMPORT_RATIO = 1.5
# The producer asset's zip is fetched on every cold start (issue 11).
PRODUCER_ASSET_BUDGET_ZIPPED_BYTES = 5 * 1024 * 1024
# Where each codec kafka-python can use comes from: a module to import, the distribution that
# ships it (None: the standard library, nothing to bundle).
CODEC_LIBRARIES = {
    "none": (None, None),
    "gzip": ("gzip", None),
    "lz4": ("lz4.frame", "lz4"),
    "zstd": ("zstandard", "zstandard"),
    "snappy": ("snappy", "python-snappy"),
}
GUIDE_KEY = b"DocumentAccessLog"


@contextlib.contextmanager
def scratch_topic(bootstrap: str, prefix: str) -> Iterator[str]:
    """A new 3-partition topic, deleted afterwards (Tansu keeps every record in memory)."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    try:
        yield topic
    finally:
        admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
        try:
            with contextlib.suppress(Exception):
                admin.delete_topics([topic])
        finally:
            admin.close()


@contextlib.contextmanager
def process_gc_restored() -> Iterator[None]:
    """Undo the handler's Lambda-only GC tuning afterwards, so it affects no other row."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def kafka_python_json_rate(
    bootstrap: str, topic: str, messages: Sequence[dict[str, Any]], kwargs: dict[str, Any]
) -> Rate:
    """kafka-python as a naive user writes it: `json.dumps` per message, one flush."""
    producer = KafkaProducer(bootstrap_servers=[bootstrap], **kwargs)
    try:
        producer.send(topic, key=GUIDE_KEY, value=json.dumps(messages[0]).encode()).get(30)
        started, cpu = time.perf_counter(), time.process_time()
        futures = [
            producer.send(topic, key=GUIDE_KEY, value=json.dumps(message).encode())
            for message in messages
        ]
        producer.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        failed = sum(1 for future in futures if not future.succeeded())
        if failed:
            raise RuntimeError(f"kafka-python: {failed} records not acknowledged")
    finally:
        producer.close()
    return Rate(len(messages) / elapsed, cpu / len(messages) * 1e6)


def confluent_json_rate(
    bootstrap: str, topic: str, messages: Sequence[dict[str, Any]], config: dict[str, Any]
) -> Rate:
    """confluent-kafka, `json.dumps` per message, every delivery report checked."""
    producer = ConfluentProducer({"bootstrap.servers": bootstrap, **config})
    errors: list[Any] = []
    delivered = 0

    def on_delivery(error: Any, _message: Any) -> None:
        nonlocal delivered
        if error is None:
            delivered += 1
        else:
            errors.append(error)

    producer.produce(topic, key=GUIDE_KEY, value=json.dumps(messages[0]).encode())
    if producer.flush(30):
        raise RuntimeError("confluent-kafka: warm-up message not delivered")
    produce = producer.produce
    started, cpu = time.perf_counter(), time.process_time()
    for message in messages:
        produce(topic, key=GUIDE_KEY, value=json.dumps(message).encode(), on_delivery=on_delivery)
    remaining = producer.flush(120)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if remaining or errors or delivered != len(messages):
        raise RuntimeError(
            f"confluent-kafka: {delivered} of {len(messages)} delivered, errors {errors[:3]}"
        )
    return Rate(len(messages) / elapsed, cpu / len(messages) * 1e6)


NO_CRC32C_SCRIPT = """
import json, sys
sys.modules["crc32c"] = None  # not installed, as with `pip install kafka-python` alone
from kafka.record import util
from bench.bench_compare import kafka_python_json_rate
assert util.crc32c_c is None
bootstrap, topic, path = sys.argv[1:4]
with open(path) as file:
    messages = json.load(file)
rate = kafka_python_json_rate(bootstrap, topic, messages, {"acks": "all"})
print("RESULT " + json.dumps([rate.msg_per_s, rate.cpu_us_per_msg]))
"""


def kafka_python_without_crc32c(bootstrap: str, topic: str, messages_file: Path) -> Rate:
    """Row 3 in a fresh interpreter where `crc32c` cannot be imported (pure-Python CRC)."""
    output = subprocess.run(
        [sys.executable, "-c", NO_CRC32C_SCRIPT, bootstrap, topic, str(messages_file)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "lambda_src")])},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    msg_per_s, cpu = json.loads(line.removeprefix("RESULT "))
    return Rate(msg_per_s, cpu)


def confluent_handler_work_rate(
    bootstrap: str,
    topic: str,
    bodies: Sequence[str],
    chunk: int,
    settings: ProducerSettings,
) -> Rate:
    """The handler's per-message work on librdkafka: `prepare_json`, produce, flush per chunk.

    Not the product: what the handler path could do if it published with confluent-kafka
    (same contract code, the product's guarantees, the same records per flush as an SQS
    event), to show what meeting the confluent-relative targets would take.
    """
    producer = ConfluentProducer(
        {"bootstrap.servers": bootstrap, **confluent_config(settings, product=True)}
    )
    contract = ContractSettings(topic=topic)
    errors: list[Any] = []
    delivered = 0

    def on_delivery(error: Any, _message: Any) -> None:
        nonlocal delivered
        if error is None:
            delivered += 1
        else:
            errors.append(error)

    producer.produce(topic, key=GUIDE_KEY, value=b"{}")
    if producer.flush(30):
        raise RuntimeError("confluent-kafka: warm-up message not delivered")
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(bodies), chunk):
        for body in bodies[start : start + chunk]:
            record = prepare_json(body, contract).record
            producer.produce(
                topic,
                value=record.value,
                key=record.key,
                headers=record.headers,
                on_delivery=on_delivery,
            )
        if producer.flush(60):
            raise RuntimeError("confluent-kafka: a chunk was not delivered")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if errors or delivered != len(bodies):
        raise RuntimeError(f"confluent-kafka: {delivered} of {len(bodies)} delivered, {errors[:3]}")
    return Rate(len(bodies) / elapsed, cpu / len(bodies) * 1e6)


def confluent_config(settings: ProducerSettings, *, product: bool) -> dict[str, Any]:
    """Same acks and linger as the product; `product` adds idempotence and its compression."""
    config: dict[str, Any] = {"acks": "all", "linger.ms": settings.linger_ms}
    if product:
        config["enable.idempotence"] = settings.enable_idempotence
        config["compression.type"] = settings.compression_type or "none"
    return config


def handler_rate(bootstrap: str, topic: str, events: Sequence[dict[str, Any]]) -> Rate:
    with process_gc_restored():
        return handler_path_rate(bootstrap, topic, events)


def throughput_rows(
    bootstrap: str,
    config: BenchConfig,
    *,
    messages: Sequence[dict[str, Any]],
    records: Sequence[PreparedRecord],
    work_dir: str,
    progress: Callable[[str], None],
) -> dict[str, Row]:
    settings = ProducerSettings.from_environment()
    complete = [record.message for record in records]  # what rows 3, 5 and C serialize
    wire = [record.record for record in records]
    complete_file = Path(work_dir) / "complete-messages.json"
    complete_file.write_text(json.dumps(complete))
    spool_dir = str(Path(work_dir) / "spool")
    bodies = [json.dumps(message) for message in messages]
    events = sqs_events(bodies, config.sqs_batch)
    count = len(messages)
    rows = {
        "handler_sqs": Row(
            "handler_sqs",
            "1",
            f"handler SQS batch path ({config.sqs_batch} records/event, handler.handler)",
            count,
        ),
        "app_sender": Row(
            "app_sender", "2", "app library background sender (send each, then flush)", count
        ),
        "kafka_defaults": Row(
            "kafka_defaults",
            "3",
            "bare kafka-python, default settings (acks=all), json.dumps per message",
            count,
        ),
        "sync_send_flush": Row(
            "sync_send_flush",
            "4",
            f"send + flush per message, the guide's synchronous style "
            f"(subset: {min(config.sync_count, count):,} of the {count:,} messages)",
            min(config.sync_count, count),
        ),
        "confluent": Row(
            "confluent",
            "5",
            f"confluent-kafka {confluent_version()}, acks=all, linger.ms={settings.linger_ms}, "
            "json.dumps per message",
            count,
        ),
        "bare": Row(
            "bare",
            "A",
            "reference: bare kafka-python, the product's settings, pre-encoded values",
            count,
        ),
        "no_crc32c": Row(
            "no_crc32c",
            "C",
            "reference: row 3 without the crc32c package (`pip install kafka-python` alone)",
            count,
        ),
        "confluent_handler_work": Row(
            "confluent_handler_work",
            "D",
            f"reference, not the product: prepare_json + confluent-kafka, product's guarantees, "
            f"flush per {config.sqs_batch} (the handler's work on librdkafka)",
            count,
        ),
        "confluent_product": Row(
            "confluent_product",
            "B",
            f"reference: confluent-kafka with the product's guarantees (idempotent, "
            f"{settings.compression_type or 'no compression'})",
            count,
        ),
    }
    measures: dict[str, Callable[[str], Rate | float]] = {
        "handler_sqs": lambda topic: handler_rate(bootstrap, topic, events),
        "app_sender": lambda topic: sender_throughput(bootstrap, messages, spool_dir)[0],
        "kafka_defaults": lambda topic: kafka_python_json_rate(
            bootstrap, topic, complete, {"acks": "all"}
        ),
        "confluent": lambda topic: confluent_json_rate(
            bootstrap, topic, complete, confluent_config(settings, product=False)
        ),
        "bare": lambda topic: bare_producer_rate(bootstrap, topic, wire, settings.kafka_kwargs()),
        "no_crc32c": lambda topic: kafka_python_without_crc32c(bootstrap, topic, complete_file),
        "confluent_handler_work": lambda topic: confluent_handler_work_rate(
            bootstrap, topic, bodies, config.sqs_batch, settings
        ),
        "confluent_product": lambda topic: confluent_json_rate(
            bootstrap, topic, complete, confluent_config(settings, product=True)
        ),
    }
    for round_number in range(1, config.rounds + 1):
        for key, measure in measures.items():
            if key == "app_sender":  # sender_throughput makes its own topic
                result = measure("")
            else:
                with scratch_topic(bootstrap, f"bench-{key.replace('_', '-')}") as topic:
                    result = measure(topic)
            row = rows[key]
            if isinstance(result, Rate):
                row.runs.append(result.msg_per_s)
                row.cpu_us_per_msg.append(result.cpu_us_per_msg)
            else:
                row.runs.append(result)
            progress(
                f"round {round_number}/{config.rounds}: row {row.number} {key}: "
                f"{row.runs[-1]:,.0f} msg/s"
            )
    sync = rows["sync_send_flush"]
    durations = naive_latency(bootstrap, messages[: sync.messages])
    sync.runs.append(len(durations) / sum(durations))
    progress(f"row 4 sync_send_flush: {sync.runs[-1]:,.0f} msg/s")
    return rows


def confluent_version() -> str:
    import confluent_kafka  # noqa: PLC0415 - only for the label

    return confluent_kafka.version()


def ratios(rows: dict[str, Row]) -> list[dict[str, Any]]:
    out = []
    for ratio in RATIOS:
        value = rows[ratio.numerator].msg_per_s / rows[ratio.denominator].msg_per_s
        out.append(
            {
                "name": ratio.name,
                "numerator": ratio.numerator,
                "denominator": ratio.denominator,
                "value": value,
                "target": ratio.target,
                "stretch": ratio.stretch,
                "met": None if ratio.target is None else value >= ratio.target,
                "stretch_met": None if ratio.stretch is None else value >= ratio.stretch,
            }
        )
    return out


# --- latency, cold start, asset -----------------------------------------------------------


def latencies(
    bootstrap: str,
    config: BenchConfig,
    messages: Sequence[dict[str, Any]],
    records: Sequence[PreparedRecord],
    spool_dir: str,
) -> list[dict[str, Any]]:
    invokes = messages[: config.latency_invokes]
    with scratch_topic(bootstrap, "bench-latency") as topic, process_gc_restored():
        direct = direct_invoke_latency(
            bootstrap, topic, invokes, [record.record for record in records]
        )
    calls = messages[: config.library_calls]
    library = library_latency(bootstrap, calls, config.paced_rate, spool_dir)
    out = [
        {"path": label, "calls": len(invokes), "p50_ms": p50, "p99_ms": p99, "target_p99_ms": None}
        for label, (p50, p99) in direct.items()
    ]
    for label, samples in (
        ("library send(), back to back (calling thread)", library["back_to_back"]),
        (f"library send(), paced {config.paced_rate:,}/s (calling thread)", library["paced"]),
    ):
        ordered = sorted(samples)
        out.append(
            {
                "path": label,
                "calls": len(ordered),
                "p50_ms": percentile(ordered, 0.50) * 1000,
                "p99_ms": percentile(ordered, 0.99) * 1000,
                "target_p99_ms": TARGET_SEND_P99_MS,
            }
        )
    return out


def cold_starts(bootstrap: str, message: dict[str, Any], runs: int) -> dict[str, Any]:
    """`bench_producer.cold_start` with the bytecode cache controlled, two ways.

    - cached: every module loads from a primed bytecode cache;
    - asset: the standard library from its cache, everything else compiled from source at
      import, as in Lambda (the bundled asset carries no .pyc files, /var/task is read-only).
    """
    out: dict[str, Any] = {"runs": runs}
    with (
        tempfile.TemporaryDirectory(prefix="bench-pycache-") as prefix,
        scratch_topic(bootstrap, "bench-cold") as topic,
    ):
        with environment(PYTHONPYCACHEPREFIX=prefix, PYTHONDONTWRITEBYTECODE=None):
            cold_start(bootstrap, topic, message, runs=1)  # fills the cache
        with environment(PYTHONPYCACHEPREFIX=prefix, PYTHONDONTWRITEBYTECODE="1"):
            out["cached"] = cold_start(bootstrap, topic, message, runs=runs)
            for compiled in (Path(importlib.import_module("kafka").__file__).parents[1], ROOT):
                shutil.rmtree(Path(prefix + str(compiled)), ignore_errors=True)
            out["asset"] = cold_start(bootstrap, topic, message, runs=runs)
    out["import_ratio"] = {
        mode: out[mode]["import handler, CPU"] / out[mode]["import kafka, CPU"]
        for mode in ("cached", "asset")
    }
    out["import_ratio_target"] = TARGET_IMPORT_RATIO
    return out


def lambda_asset(cdk_out: Path = ROOT / "cdk.out") -> dict[str, Any]:
    """Size of the producer function's asset in `cdk.out` (unpacked, and zipped in memory)."""
    templates = sorted(cdk_out.glob("*.template.json")) if cdk_out.is_dir() else []
    for template in templates:
        resources = json.loads(template.read_text()).get("Resources", {})
        for resource in resources.values():
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            if resource.get("Properties", {}).get("Handler") != LAMBDA_HANDLER:
                continue
            asset_path = resource.get("Metadata", {}).get("aws:asset:path")
            if not asset_path or not (cdk_out / asset_path).is_dir():
                continue
            directory = cdk_out / asset_path
            files = [path for path in directory.rglob("*") if path.is_file()]
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in files:
                    archive.write(path, path.relative_to(directory))
            top_level = sorted(path.name for path in directory.iterdir())
            sources = [PRODUCER_ASSET.requirements, *(file for _, file in PRODUCER_ASSET.files())]
            newest_source = max(path.stat().st_mtime for path in sources)
            return {
                "asset": f"cdk.out/{asset_path}",
                "template": template.name,
                "unpacked_bytes": sum(path.stat().st_size for path in files),
                "zipped_bytes": buffer.tell(),
                "budget_zipped_bytes": PRODUCER_ASSET_BUDGET_ZIPPED_BYTES,
                "files": len(files),
                "pyc_files": sum(1 for path in files if path.suffix == ".pyc"),
                "top_level": top_level,
                "older_than_sources": template.stat().st_mtime < newest_source,
            }
    return {"skipped": "no cdk.out with the producer function's asset: run `make synth` first"}


# --- compression --------------------------------------------------------------------------


def codec_costs(runs: int) -> dict[str, dict[str, Any]]:
    """What each codec adds to the Lambda asset and to a cold start.

    Bytes: the codec's distribution as installed in this interpreter (the Lambda's cp314
    build differs a little; gzip and none come with Python). Import: median CPU seconds of
    importing the codec's module in a fresh interpreter.
    """
    out: dict[str, dict[str, Any]] = {}
    for codec, (module, distribution) in CODEC_LIBRARIES.items():
        if codec != "none" and not COMPRESSION_CODECS[codec]():
            continue
        installed = 0
        if distribution is not None:
            files = importlib.metadata.distribution(distribution).files or []
            installed = sum(file.size or 0 for file in files)
        import_s = None
        if module is not None:
            script = f"import time; t = time.process_time(); import {module}; "
            script += "print(time.process_time() - t)"
            import_s = statistics.median(
                float(
                    subprocess.run(
                        [sys.executable, "-c", script], capture_output=True, text=True, check=True
                    ).stdout
                )
                for _ in range(runs)
            )
        out[codec] = {"library": distribution or "standard library", "asset_bytes": installed}
        out[codec]["import_s"] = import_s
    return out


def codecs() -> list[str | None]:
    return [None, *(name for name, available in COMPRESSION_CODECS.items() if available())]


def handler_variant_rows(
    bootstrap: str,
    wire: RelayedBroker,
    config: BenchConfig,
    *,
    messages: Sequence[dict[str, Any]],
    mean_value: float,
    progress: Callable[[str], None],
) -> dict[str, list[dict[str, Any]]]:
    """The handler SQS batch path per codec and per SQS batch size, in interleaved rounds.

    msg/s on the main broker (median of `config.rounds`); bytes per message once per codec
    through `wire.relay` (client -> broker, every request included: produce, metadata...).
    """
    bodies = [json.dumps(message) for message in messages]
    variable = environment_variable("compression_type")
    variants: dict[str, tuple[str, list[dict[str, Any]]]] = {
        f"codec {codec or 'none'}": (codec or "none", sqs_events(bodies, config.sqs_batch))
        for codec in codecs()
    }
    default_codec = ProducerSettings.from_environment().compression_type or "none"
    for batch in SQS_BATCH_VARIANTS:
        if batch != config.sqs_batch:
            variants[f"batch {batch}"] = (default_codec, sqs_events(bodies, batch))
    rates: dict[str, list[Rate]] = {name: [] for name in variants}
    for round_number in range(1, config.rounds + 1):
        for name, (codec, events) in variants.items():
            with environment(**{variable: codec}), scratch_topic(bootstrap, "bench-var") as topic:
                rates[name].append(handler_rate(bootstrap, topic, events))
        progress(
            f"round {round_number}/{config.rounds}: "
            + ", ".join(f"{name} {rates[name][-1].msg_per_s:,.0f}" for name in variants)
        )
    wire_bytes: dict[str, tuple[float, float]] = {}
    for name, (codec, events) in variants.items():
        if not name.startswith("codec"):
            continue
        with environment(**{variable: codec}), scratch_topic(wire.bootstrap, "bench-wire") as topic:
            before = (wire.relay.bytes_to_target, wire.relay.bytes_to_client)
            handler_rate(wire.bootstrap, topic, events)
            sent = len(messages) + 1  # handler_path_rate's warm-up publishes one more
            wire_bytes[name] = (
                (wire.relay.bytes_to_target - before[0]) / sent,
                (wire.relay.bytes_to_client - before[1]) / sent,
            )
        progress(f"{name}: {wire_bytes[name][0]:,.0f} bytes/msg to the broker")

    def summary(name: str) -> dict[str, Any]:
        return {
            "msg_per_s": statistics.median(rate.msg_per_s for rate in rates[name]),
            "cpu_us_per_msg": statistics.median(rate.cpu_us_per_msg for rate in rates[name]),
            "runs_msg_per_s": [rate.msg_per_s for rate in rates[name]],
        }

    compression = []
    for name, (codec, _) in variants.items():
        if name in wire_bytes:
            to_broker, to_client = wire_bytes[name]
            compression.append(
                {
                    "compression": codec,
                    **summary(name),
                    "bytes_to_broker_per_msg": to_broker,
                    "bytes_from_broker_per_msg": to_client,
                    "json_over_wire": mean_value / to_broker,
                }
            )
    batches = [
        {
            "records_per_event": config.sqs_batch,
            **summary(f"codec {default_codec}"),
            "compression": default_codec,
        }
    ]
    batches += [
        {"records_per_event": int(name.split()[1]), **summary(name), "compression": codec}
        for name, (codec, _) in variants.items()
        if name.startswith("batch")
    ]
    batches.sort(key=lambda item: item["records_per_event"])
    return {"compression": compression, "sqs_batch": batches}


def cpu_breakdown(
    bootstrap: str,
    messages: Sequence[dict[str, Any]],
    records: Sequence[PreparedRecord],
    config: BenchConfig,
) -> dict[str, float]:
    """CPU microseconds per message of each part of the handler batch path, unprofiled.

    Each part is run alone the way the handler runs it (the handler's garbage-collector
    tuning; records sent in chunks of `config.sqs_batch`, each chunk flushed):
    `prepare_json`; kafka-python's `send()` and `flush()` in the calling thread and its I/O
    thread; then the handler path itself, split into its calling thread and the rest. The
    handler's own share (Powertools, SQS envelope checks, building results) is what its calling
    thread spends beyond `prepare_json` and kafka-python's calling-thread work.
    """
    settings = ProducerSettings.from_environment()
    bodies = [json.dumps(message) for message in messages]
    count = len(messages)
    wire = [record.record for record in records]
    chunks = [wire[start : start + config.sqs_batch] for start in range(0, count, config.sqs_batch)]
    with (
        scratch_topic(bootstrap, "bench-cpu") as topic,
        handler_environment(bootstrap, topic),
        process_gc_restored(),
    ):
        importlib.import_module("handler").tune_garbage_collector()
        contract = ContractSettings()
        started = time.thread_time()
        for body in bodies:
            prepare_json(body, contract)
        prepare_us = (time.thread_time() - started) / count * 1e6

        producer = KafkaProducer(bootstrap_servers=[bootstrap], **settings.kafka_kwargs())
        try:
            producer.send(topic, value=wire[0].value, key=wire[0].key).get(30)
            sending = flushing = 0.0
            process0 = time.process_time()
            for chunk in chunks:
                main0 = time.thread_time()
                futures = [
                    producer.send(topic, value=r.value, key=r.key, headers=r.headers) for r in chunk
                ]
                main1 = time.thread_time()
                producer.flush()
                sending += main1 - main0
                flushing += time.thread_time() - main1
                if not all(future.succeeded() for future in futures):
                    raise RuntimeError("cpu breakdown: records not acknowledged")
            io_thread = time.process_time() - process0 - sending - flushing
        finally:
            producer.close()
    with (
        scratch_topic(bootstrap, "bench-cpu") as topic,
        handler_environment(bootstrap, topic),
        process_gc_restored(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        # handler_path_rate's loop, with the CPU of the calling thread told from the rest
        handler = importlib.import_module("handler")
        handler.reset()
        context = LambdaContext()
        handler.handler(sqs_events(bodies[:1], 1)[0], context)  # warm: producer created
        events = sqs_events(bodies, config.sqs_batch)
        main0, process0 = time.thread_time(), time.process_time()
        for event in events:
            if handler.handler(event, context)["batchItemFailures"]:
                raise RuntimeError("cpu breakdown: the handler reported failures")
        handler_main = time.thread_time() - main0
        handler_other = time.process_time() - process0 - handler_main
        handler.reset()
    per_message = {
        "prepare_json": prepare_us,
        "kafka_send_calling_thread": sending / count * 1e6,
        "kafka_flush_calling_thread": flushing / count * 1e6,
        "kafka_io_thread": io_thread / count * 1e6,
        "handler_calling_thread": handler_main / count * 1e6,
        "handler_other_threads": handler_other / count * 1e6,
    }
    per_message["kafka_total"] = (sending + flushing + io_thread) / count * 1e6
    per_message["handler_total"] = (handler_main + handler_other) / count * 1e6
    per_message["handler_own"] = (
        per_message["handler_calling_thread"]
        - prepare_us
        - per_message["kafka_send_calling_thread"]
        - per_message["kafka_flush_calling_thread"]
    )
    return per_message


def median_breakdown(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each part's median over the runs (the parts then need not add up exactly)."""
    return {part: statistics.median(run[part] for run in runs) for part in runs[0]}


# --- profile ------------------------------------------------------------------------------


def profile_handler(
    bootstrap: str, events: Sequence[dict[str, Any]], top: int = 15
) -> dict[str, Any]:
    """cProfile of the handler batch path: the calling thread and kafka-python's threads.

    Timed with each thread's CPU clock (`time.thread_time`), so waiting for the GIL, the
    broker or the selector counts for nothing: the figures say where CPU goes. Profiling
    slows the path down (about 3x), so shares matter, not absolute times.
    """
    thread_profiles: list[cProfile.Profile] = []

    def start_in_thread(*_: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        thread_profiles.append(profile)
        profile.enable()  # replaces this hook for the rest of the thread's life

    main = cProfile.Profile(time.thread_time)
    with scratch_topic(bootstrap, "bench-profile") as topic, process_gc_restored():
        threading.setprofile(start_in_thread)
        main.enable()
        try:
            rate = handler_path_rate(bootstrap, topic, events)
        finally:
            main.disable()
            threading.setprofile(None)  # type: ignore[arg-type]
    sections = {"handler (calling thread)": pstats.Stats(main)}
    if thread_profiles:
        sections["kafka-python I/O threads"] = pstats.Stats(*thread_profiles)
    summary: dict[str, Any] = {"msg_per_s_profiled": rate.msg_per_s, "sections": {}}
    for title, stats in sections.items():
        entries = stats.stats  # type: ignore[attr-defined]
        total = sum(own for (_, _, own, _, _) in entries.values())
        functions = sorted(entries.items(), key=lambda item: item[1][3], reverse=True)
        by_area: dict[str, float] = {}
        for (filename, _, function), (_, _, own, _, _) in entries.items():
            area = _area(filename, function)
            by_area[area] = by_area.get(area, 0.0) + own
        summary["sections"][title] = {
            "cpu_s": total,
            "top_cumulative": [
                {
                    "function": _function_label(key),
                    "calls": calls,
                    "own_s": own,
                    "cumulative_s": cumulative,
                }
                for key, (_, calls, own, cumulative, _) in functions[:top]
            ],
            "own_time_by_area": sorted(
                ({"area": area, "own_s": own} for area, own in by_area.items()),
                key=lambda item: item["own_s"],
                reverse=True,
            )[:top],
        }
    return summary


def _function_label(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    return f"{_module_path(filename)}:{line}({function})"


def _module_path(filename: str) -> str:
    path = filename.replace("\\", "/")
    for marker in ("site-packages/", "lambda_src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = "stdlib/" + path.split("/", 1)[1]
            break
    return path.removesuffix(".py")


def _area(filename: str, function: str) -> str:
    """Where own time goes: a package (two levels) or, for C functions, the function."""
    if filename == "~":
        return f"C: {function}"
    parts = _module_path(filename).split("/")
    return "/".join(parts[:2]) if len(parts) > 1 else parts[0]


# --- the run ------------------------------------------------------------------------------


def run(
    config: BenchConfig,
    bootstrap: str,
    wire: RelayedBroker,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure everything against the broker at `bootstrap`; bytes through `wire.relay`."""
    started = time.perf_counter()
    progress(f"generating {config.count:,} messages from the guide's example shapes")
    # The latency runs may take more messages than the throughput runs: same generator.
    generated = guide_shaped_messages(
        max(config.count, config.library_calls, config.latency_invokes), config.seed
    )
    all_records = [prepare_record(message, ContractSettings()) for message in generated]
    messages, records = generated[: config.count], all_records[: config.count]
    sizes = [len(record.record.value) for record in records]
    settings = ProducerSettings.from_environment()
    results: dict[str, Any] = {
        "config": {key: str(value) for key, value in asdict(config).items()},
        "messages": {
            "count": len(messages),
            "value_bytes_min": min(sizes),
            "value_bytes_mean": statistics.mean(sizes),
            "value_bytes_max": max(sizes),
        },
        "producer_settings": settings.kafka_kwargs(),
        "chosen_compression": settings.compression_type or "none",
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as work_dir:
        spool_dir = str(Path(work_dir) / "spool")
        progress("throughput: rows 1, 2, 3, 5, A, C, D, B in interleaved rounds, then row 4")
        rows = throughput_rows(
            bootstrap,
            config,
            messages=messages,
            records=records,
            work_dir=work_dir,
            progress=progress,
        )
        results["throughput"] = [
            {
                "row": row.number,
                "key": row.key,
                "path": row.label,
                "messages": row.messages,
                "msg_per_s": row.msg_per_s,
                "runs_msg_per_s": row.runs,
                "cpu_us_per_msg": row.cpu,
            }
            for row in sorted(rows.values(), key=lambda row: row.number)
        ]
        results["ratios"] = ratios(rows)
        progress(f"latency: {config.latency_invokes:,} direct invokes, library send() calls")
        results["latency"] = latencies(bootstrap, config, generated, all_records, spool_dir)
        progress(f"cold start: fresh interpreters, median of {config.cold_start_runs}")
        results["cold_start"] = cold_starts(bootstrap, messages[0], config.cold_start_runs)
        results["codec_costs"] = codec_costs(config.cold_start_runs)
        progress("handler variants: per codec and per SQS batch size; bytes via a FaultyRelay")
        results.update(
            handler_variant_rows(
                bootstrap,
                wire,
                config,
                messages=messages,
                mean_value=statistics.mean(sizes),
                progress=progress,
            )
        )
        missed = [
            r
            for r in results["ratios"]
            if r["numerator"] in THROUGHPUT_RATIOS and r["met"] is False
        ]
        if config.profile == "always" or (config.profile == "auto" and missed):
            progress("profile: CPU per part of the handler path, then cProfile")
            profiled = messages[: config.profile_count]
            results["profile"] = {
                "cpu_us_per_msg": median_breakdown(
                    [
                        cpu_breakdown(bootstrap, messages, records, config)
                        for _ in range(config.rounds)
                    ]
                ),
                "cpu_budget_us_per_msg": {
                    f"{ratio['name']} >= {ratio['target']:g}x": 1e6
                    / (ratio["target"] * rows[ratio["denominator"]].msg_per_s)
                    for ratio in missed
                },
                **profile_handler(
                    bootstrap,
                    sqs_events([json.dumps(message) for message in profiled], config.sqs_batch),
                ),
            }
        else:
            results["profile"] = None
    results["lambda_asset"] = lambda_asset()
    results["elapsed_s"] = time.perf_counter() - started
    return results


def main(argv: Sequence[str] | None = None) -> int:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--count", type=int, default=defaults.count)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--sqs-batch", type=int, default=defaults.sqs_batch)
    parser.add_argument("--sync-count", type=int, default=defaults.sync_count)
    parser.add_argument("--latency-invokes", type=int, default=defaults.latency_invokes)
    parser.add_argument("--library-calls", type=int, default=defaults.library_calls)
    parser.add_argument("--cold-start-runs", type=int, default=defaults.cold_start_runs)
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("--profile-count", type=int, default=defaults.profile_count)
    parser.add_argument("--results", type=Path, default=defaults.results_path)
    args = parser.parse_args(argv)
    config = BenchConfig(
        count=args.count,
        rounds=args.rounds,
        sqs_batch=args.sqs_batch,
        sync_count=args.sync_count,
        latency_invokes=args.latency_invokes,
        library_calls=args.library_calls,
        cold_start_runs=args.cold_start_runs,
        profile=args.profile,
        profile_count=args.profile_count,
        results_path=args.results,
    )

    def progress(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    with TansuBroker() as broker, RelayedBroker() as wire:
        progress(f"Tansu on {broker.bootstrap}; relayed Tansu for byte counts on {wire.bootstrap}")
        results = run(config, broker.bootstrap, wire, progress)
    print_results(results)
    written = write_results(results, config.results_path)
    print("written: " + ", ".join(str(path) for path in written))
    return 0
