"""docs/: the message format is generated from the contract; the other pages name real things.

`docs/message-format.md` must be exactly what `docs/message_format.py` renders from
`document_exceptions.contract` now; it names the codec the publisher uses, and its consumer
snippet runs against the local SASL_SSL broker on records the real publisher sent.
`docs/operations.md` and `docs/architecture.md` name alarms, outputs, queues and make
targets: each name they use is checked against the committed template snapshots (which
tests/test_snapshots.py keeps equal to a fresh synth) and the Makefile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import pytest
from kafka import KafkaProducer

from document_exceptions import contract
from document_exceptions.connection import ConnectionResolver
from document_exceptions.publisher import (
    DEFAULT_COMPRESSION,
    ProducerSettings,
    Publisher,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
SNAPSHOTS = REPO_ROOT / "tests" / "snapshots"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_message_format", DOCS / "message_format.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


def test_message_format_doc_is_the_generated_one():
    assert (DOCS / "message-format.md").read_text(encoding="utf-8") == generator.render(), (
        "docs/message-format.md is stale: run .venv/bin/python docs/message_format.py --write"
    )


def test_message_format_doc_follows_a_contract_change(monkeypatch):
    changed = dict(contract.HTTP_STATUS_BY_EXCEPTION_TYPE, access_denied=401)
    monkeypatch.setattr(contract, "HTTP_STATUS_BY_EXCEPTION_TYPE", MappingProxyType(changed))

    rendered = generator.render()

    assert "| `access_denied` | User doesn't have permission | 401 |" in rendered
    assert rendered != (DOCS / "message-format.md").read_text(encoding="utf-8")


def test_message_format_doc_lists_every_field_and_common_type():
    text = (DOCS / "message-format.md").read_text(encoding="utf-8")

    for number, name in enumerate(contract.FIELDS, start=1):
        assert f"| {number} | `{name}` |" in text
    for name, status in contract.HTTP_STATUS_BY_EXCEPTION_TYPE.items():
        assert re.search(rf"\| `{name}` \| [^|]+ \| {status} \|", text)


def test_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "message-format.md"
    stale.write_text("# out of date\n", encoding="utf-8")
    monkeypatch.setattr(generator, "OUTPUT", stale)
    monkeypatch.setattr(generator, "REPO_ROOT", tmp_path)

    assert generator.main(["--check"]) == 1
    assert "is stale" in capsys.readouterr().out
    assert generator.main(["--write"]) == 0
    assert generator.main(["--check"]) == 0


def snapshot_templates() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(SNAPSHOTS.glob("*.json"))}


def documented(page: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, (DOCS / page).read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", ["docs/operations.md", "docs/architecture.md", "README.md"])
def test_outputs_named_in_the_docs_exist_in_every_stack(page):
    templates = snapshot_templates()
    text = (REPO_ROOT / page).read_text(encoding="utf-8")
    names = set(re.findall(r"outputs? `([A-Za-z0-9]+)`", text))

    assert names
    for stack, template in templates.items():
        missing = sorted(names - set(template.get("Outputs", {})))
        assert not missing, f"{page} names outputs {stack} does not have: {missing}"


def test_every_output_has_a_fixed_name_without_a_hash_suffix():
    for stack, template in snapshot_templates().items():
        hashed = [key for key in template.get("Outputs", {}) if re.search(r"[A-F0-9]{8}$", key)]
        assert not hashed, f"{stack}: outputs named by CDK's hash: {hashed}"


def test_alarms_named_in_operations_exist_in_every_stack():
    templates = snapshot_templates()
    names = documented("operations.md", r"alarm `([A-Za-z0-9{}-]+)`")

    assert names
    for stack, template in templates.items():
        alarms = [
            (logical_id, resource.get("Properties", {}).get("AlarmName", ""))
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::CloudWatch::Alarm"
        ]
        for name in names:
            pattern = re.escape(name).replace(r"\{n\}", r"\d+").replace(r"\{cluster\}", ".+")
            assert any(
                re.fullmatch(pattern, alarm_name) or re.search(pattern, logical_id)
                for logical_id, alarm_name in alarms
            ), f"operations.md names alarm {name!r}, which {stack} does not have"


def test_make_targets_named_in_the_docs_exist():
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.MULTILINE))
    for page in ("operations.md", "architecture.md"):
        named = documented(page, r"`make ([a-z-]+)")
        assert named <= targets, f"{page} names make targets that do not exist: {named - targets}"


# --- what a consumer must know ------------------------------------------------------------

# The module kafka-python imports for each codec that needs a package (kafka/codec.py).
CODEC_MODULES = {"zstd": "zstandard", "lz4": "lz4", "snappy": "snappy"}
SNIPPET_TIMEOUT_S = 60
# Run before the snippet, which stays as the doc shows it. Tansu lets a consumer join its
# group only after half the session timeout, and kafka-python's default against a 3.x broker
# is 45 s (MSK 2.8.1 gets 10 s, and real Kafka does not wait for it); a shorter default keeps
# the join to a few seconds. Fails loudly if kafka-python stops keeping its defaults there.
SHORT_GROUP_SESSION = """\
from kafka import KafkaConsumer
assert "session_timeout_ms" in KafkaConsumer.DEFAULT_CONFIG
KafkaConsumer.DEFAULT_CONFIG = {
    **KafkaConsumer.DEFAULT_CONFIG, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000
}
"""


def consumer_snippet_in_the_doc() -> str:
    text = (DOCS / "message-format.md").read_text(encoding="utf-8")
    reading = text[text.index("## Reading the records") :]
    match = re.search(r"^```python\n(.*?)^```", reading, flags=re.MULTILINE | re.DOTALL)
    assert match, "message-format.md shows a consumer snippet under 'Reading the records'"
    return match.group(1)


def test_the_doc_names_the_codec_the_publisher_uses():
    text = (DOCS / "message-format.md").read_text(encoding="utf-8")

    assert ProducerSettings().compression_type == DEFAULT_COMPRESSION
    assert f"Records are compressed with `{DEFAULT_COMPRESSION}`" in text
    if DEFAULT_COMPRESSION == "gzip":
        assert "`gzip` is built in" in text
        assert "pip install kafka-python (gzip is built in)" in text
    if DEFAULT_COMPRESSION in CODEC_MODULES:
        assert f'pip install "kafka-python[{DEFAULT_COMPRESSION}]"' in text
        assert f"(the `{CODEC_MODULES[DEFAULT_COMPRESSION]}` package)" in text


def test_the_doc_follows_a_change_of_the_default_codec(monkeypatch):
    monkeypatch.setattr(generator, "DEFAULT_COMPRESSION", "lz4")

    rendered = generator.render()

    assert "Records are compressed with `lz4`" in rendered
    assert 'lz4` needs `pip install "kafka-python[lz4]"` (the `lz4` package)' in rendered
    assert 'from kafka import KafkaConsumer  # pip install "kafka-python[lz4]"' in rendered


def test_the_doc_lists_every_header_a_record_carries():
    text = (DOCS / "message-format.md").read_text(encoding="utf-8")
    record = contract.prepare_record(
        dict.fromkeys(contract.REQUIRED_FIELDS, "x") | {"exception_type": "access_denied"}
    )

    for name, _ in record.record.headers:
        assert re.search(rf"^\| `{re.escape(name)}` \| `[^`]+` \| ", text, flags=re.MULTILINE)


def published_records(broker: Any, topic: str) -> list[contract.PreparedRecord]:
    """Three messages sent to `topic` by the library's publisher with its default settings."""
    records = [
        contract.prepare_record(
            {
                "order_req_id": f"SB10294{index}",
                "s3_key": f"documents/user123/file{index}.pdf",
                "user_id": "user123",
                "exception_type": exception_type,
                "error_message": "Document not found in S3",
            },
            contract.ContractSettings(topic=topic),
        )
        for index, exception_type in enumerate(("file_not_found", "access_denied", "upload_failed"))
    ]
    publisher = Publisher(
        ConnectionResolver(broker.client_env()),
        ProducerSettings(),
        contract.ContractSettings(topic=topic),
    )
    try:
        results = publisher.publish([record.record for record in records], timeout_s=20)
    finally:
        publisher.close()
    assert all(result.published for result in results), results
    assert publisher.settings.compression_type == DEFAULT_COMPRESSION
    return records


def run_python(code: str, environ: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": os.environ.get("PATH", ""), **environ},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SNIPPET_TIMEOUT_S,
        check=False,
    )


def lines_printed(process: subprocess.Popen, count: int, timeout_s: float) -> list[str]:
    """The first `count` lines `process` prints within `timeout_s` (fewer if it stops first)."""
    stdout = process.stdout
    assert stdout is not None
    printed: queue.Queue[str] = queue.Queue()

    def pump() -> None:  # a thread: select() would miss lines already in the file's buffer
        for line in stdout:
            printed.put(line)

    threading.Thread(target=pump, daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(lines) < count and (left := deadline - time.monotonic()) > 0:
        try:
            lines.append(printed.get(timeout=left).rstrip("\n"))
        except queue.Empty:
            break
    return lines


@pytest.mark.timeout(90)
def test_the_consumer_snippet_reads_what_the_publisher_sent(
    secure_kafka_broker: Any, fresh_topic: Callable[..., str], tmp_path: Path
):
    topic = secure_kafka_broker.create_topic(fresh_topic())
    records = published_records(secure_kafka_broker, topic)
    # One record of a schema version the snippet does not know, which it must set aside.
    producer = KafkaProducer(**secure_kafka_broker.kafka_python_config())
    producer.send(topic, value=b"{}", headers=[(contract.HEADER_SCHEMA_VERSION, b"99")]).get(
        timeout=10
    )
    producer.close()
    expected = [
        *(
            f"{record.message['exception_type']} {record.message['order_req_id']} "
            f"{record.message['s3_key']}"
            for record in records
        ),
        "skipped: schema version 99",
    ]

    # The snippet reads like a service, until stopped: stop it once it has printed enough.
    process = subprocess.Popen(
        [sys.executable, "-c", SHORT_GROUP_SESSION + consumer_snippet_in_the_doc()],
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
            **secure_kafka_broker.client_env(),
            contract.ENVIRONMENT_VARIABLES["topic"]: topic,
        },
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = lines_printed(process, len(expected), SNIPPET_TIMEOUT_S)
    finally:
        process.kill()
        _, errors = process.communicate(timeout=10)

    assert sorted(printed) == sorted(expected), errors[-3000:]


@pytest.mark.timeout(60)
def test_librdkafka_reads_the_compressed_records_and_their_headers(
    secure_kafka_broker: Any, fresh_topic: Callable[..., str]
):
    topic = secure_kafka_broker.create_topic(fresh_topic())
    records = published_records(secure_kafka_broker, topic)

    read = secure_kafka_broker.read_all(topic, expected=len(records))  # confluent-kafka

    assert sorted((r.value, r.headers) for r in read) == sorted(
        (record.record.value, record.record.headers) for record in records
    )


@pytest.mark.timeout(60)
def test_kafka_python_without_the_codec_package_cannot_read_the_records(
    secure_kafka_broker: Any, fresh_topic: Callable[..., str], tmp_path: Path
):
    """What the doc tells kafka-python users to install is really needed."""
    module = CODEC_MODULES.get(DEFAULT_COMPRESSION)
    if module is None:
        assert DEFAULT_COMPRESSION == "gzip", "a codec kafka-python needs no package for"
        return
    topic = secure_kafka_broker.create_topic(fresh_topic())
    published_records(secure_kafka_broker, topic)
    config = secure_kafka_broker.kafka_python_config()
    code = f"""
import sys
sys.modules[{module!r}] = None  # as if the package were not installed
from kafka import KafkaConsumer, TopicPartition
consumer = KafkaConsumer(**{config!r})
partitions = [TopicPartition({topic!r}, p) for p in consumer.partitions_for_topic({topic!r})]
consumer.assign(partitions)
consumer.seek_to_beginning()
for _ in range(20):
    consumer.poll(timeout_ms=500)
print("read without the codec package")
"""

    result = run_python(code, {}, tmp_path)

    assert result.returncode != 0, result.stdout
    assert (
        f"UnsupportedCodecError: Libraries for {DEFAULT_COMPRESSION} compression codec not found"
        in result.stderr
    )
