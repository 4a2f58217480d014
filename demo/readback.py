"""Step 5: read the topic back with an independent client and check it against what was sent.

The reader is confluent-kafka (librdkafka), unrelated to the kafka-python code that wrote
the records: `tests.harness.read_all` assigns every partition from offset 0 and reads to the
end of each. Every record must be valid against the shipped JSON Schema, carry the guide's
record key and an `exception_type` header, and the guide's own example must come back
byte-for-byte as the contract encodes it.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import jsonschema

from demo import messages as plan
from demo.console import Console, StepFailedError, shorten, table
from document_exceptions.contract import ContractSettings, encode_json
from document_exceptions.json_schema import SCHEMA_PATH
from tests.harness import Record, read_all

READ_TIMEOUT_S = 20.0
COUNTS_HEADER = "messages per exception_type:"
COUNTS_PER_LINE = 3


def read_topic(confluent_config: dict[str, Any], topic: str) -> list[Record]:
    return read_all(confluent_config, topic, timeout=READ_TIMEOUT_S)


def check(records: list[Record], contract: ContractSettings) -> list[dict[str, Any]]:
    """The decoded messages; raises StepFailedError on the first record that is not right."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    decoded = []
    for record in records:
        where = f"partition {record.partition} offset {record.offset}"
        message = json.loads(record.value or b"null")
        problems = [
            f"{'.'.join(map(str, e.path)) or 'message'}: {e.message}"
            for e in validator.iter_errors(message)
        ]
        if problems:
            raise StepFailedError(f"{where} breaks the schema: {problems[0]}")
        if record.key != contract.record_key.encode():
            raise StepFailedError(f"{where} has key {record.key!r}, not {contract.record_key!r}")
        headers = dict(record.headers)
        if headers.get("exception_type") != message["exception_type"].encode():
            raise StepFailedError(
                f"{where}: exception_type header {headers.get('exception_type')!r}"
            )
        decoded.append(message)
    sent = Counter((order, kind) for _, order, kind in plan.EXPECTED)
    found = Counter((m["order_req_id"], m["exception_type"]) for m in decoded)
    if found != sent:
        missing, extra = sent - found, found - sent
        raise StepFailedError(
            f"topic differs from what was sent: missing {dict(missing)}, extra {dict(extra)}"
        )
    example_key = (plan.GUIDE_MESSAGE["order_req_id"], plan.GUIDE_MESSAGE["exception_type"])
    example = [
        r
        for r, m in zip(records, decoded, strict=True)
        if (m["order_req_id"], m["exception_type"]) == example_key
    ]
    if [r.value for r in example] != [encode_json(plan.GUIDE_MESSAGE)]:
        raise StepFailedError("the guide's example did not come back byte-for-byte")
    return decoded


def print_table(console: Console, records: list[Record], decoded: list[dict[str, Any]]) -> None:
    rows = [
        [
            f"{record.partition}:{record.offset}",
            plan.entry_point_of(m["order_req_id"], m["exception_type"]),
            m["exception_type"],
            m["order_req_id"],
            shorten(m["user_id"], 18),
            str(m["http_status_code"]),
            m["access_type"] or "-",
        ]
        for record, m in zip(records, decoded, strict=True)
    ]
    headers = ["p:off", "via", "exception_type", "order", "user_id", "http", "access_type"]
    for line in table(rows, headers):
        console.detail(line)


def print_counts(console: Console, decoded: list[dict[str, Any]]) -> None:
    counts = sorted(Counter(m["exception_type"] for m in decoded).items())
    console.detail(COUNTS_HEADER)
    for start in range(0, len(counts), COUNTS_PER_LINE):
        chunk = counts[start : start + COUNTS_PER_LINE]
        console.detail(
            "  " + "".join(f"{name:<24}{count:>2}    " for name, count in chunk).rstrip()
        )


def run(console: Console, confluent_config: dict[str, Any], topic: str) -> None:
    contract = ContractSettings(topic=topic)
    records = read_topic(confluent_config, topic)
    decoded = check(records, contract)
    print_table(console, records, decoded)
    print_counts(console, decoded)
    console.detail(
        f"{len(records)} records = {len(plan.EXPECTED)} sent: none missing, no duplicates, all "
        "schema-valid, the example byte-for-byte"
    )
