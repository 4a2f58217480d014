"""Generate docs/message-format.md from the message contract (document_exceptions/contract.py).

    .venv/bin/python docs/message_format.py --write   # after changing the contract
    .venv/bin/python docs/message_format.py --check   # exit 1 if the file is stale

Every table, limit, default and example below is computed from the contract module (the
examples by running `build_message` / `prepare_record` on the guide's messages), and the
compression codecs from the publisher's constants, so the document cannot drift from the
code; tests/test_docs.py runs the check, and runs the consumer snippet against a broker.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT)]

from demo.messages import INVALID_EVENT  # noqa: E402
from document_exceptions import contract, json_schema, names  # noqa: E402
from document_exceptions.echo import ECHO_CHARS  # noqa: E402
from document_exceptions.publisher import (  # noqa: E402
    COMPRESSION_CODECS,
    DEFAULT_COMPRESSION,
    environment_variable,
)
from tests.guide_examples import GUIDE_MANUAL_SEND, GUIDE_MESSAGE  # noqa: E402

OUTPUT = REPO_ROOT / "docs" / "message-format.md"
EXAMPLE_TIME = datetime(2025, 10, 21, 10, 30, tzinfo=UTC)
CONSUMER_GROUP = "document-exceptions-reader"
# What each header carries, by header name (the values come from the contract).
HEADER_MEANINGS = {
    contract.HEADER_EXCEPTION_TYPE: "the message's `exception_type`: filter or route without "
    "parsing the value",
    contract.HEADER_SOURCE: "the message's `source`",
    contract.HEADER_SCHEMA_VERSION: "the message schema's version: set aside records with a "
    "version you do not know",
    contract.HEADER_CONTENT_TYPE: "how the value is encoded",
}


def _code(value: object) -> str:
    return f"`{value}`"


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return [_row(headers), _row(["---"] * len(headers)), *(_row(row) for row in rows)]


def _types(schema: Mapping[str, Any]) -> list[str]:
    if "anyOf" in schema:
        return sorted({t for option in schema["anyOf"] for t in _types(option)})
    kind = schema.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    fmt = schema.get("format")
    return [f"{k} ({fmt})" if fmt and k != "null" else k for k in kinds]


def _limits(schema: Mapping[str, Any]) -> str:
    if "anyOf" in schema:
        return "; ".join(filter(None, (_limits(option) for option in schema["anyOf"])))
    parts = []
    if "minLength" in schema:
        parts.append(f"at least {schema['minLength']} char")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']:,} chars")
    if "minimum" in schema and "maximum" in schema:
        parts.append(f"{schema['minimum']}-{schema['maximum']}")
    if "pattern" in schema:
        parts.append(f"pattern {_code(schema['pattern'])}")
    return ", ".join(parts)


def _json_block(value: Any) -> list[str]:
    return ["```json", json.dumps(value, indent=4, ensure_ascii=False), "```"]


def filled_in_fields() -> set[str]:
    """Optional fields the contract fills in: those not null when only the required are given."""
    minimal = {name: GUIDE_MESSAGE[name] for name in contract.REQUIRED_FIELDS}
    message = contract.build_message(minimal, now=EXAMPLE_TIME)
    return {name for name, value in message.items() if value is not None} - set(minimal)


def field_table() -> list[str]:
    filled = filled_in_fields()
    rows = []
    for number, spec in enumerate(contract.FIELD_SPECS, start=1):
        required = "yes" if spec.required else ("filled in" if spec.name in filled else "no")
        rows.append(
            [
                number,
                _code(spec.name),
                required,
                " or ".join(_types(spec.schema)),
                _limits(spec.schema),
                spec.description,
            ]
        )
    return _table(["#", "field", "required", "type", "limits", "meaning"], rows)


def status_table() -> list[str]:
    rows = [
        [_code(name), meaning, contract.HTTP_STATUS_BY_EXCEPTION_TYPE.get(name, "")]
        for name, meaning in contract.COMMON_EXCEPTION_TYPES.items()
    ]
    rows.append(
        [
            "any other type (e.g. `document_download_error`)",
            "not classified by the app",
            contract.DEFAULT_HTTP_STATUS_CODE,
        ]
    )
    return _table(["exception_type", "meaning", "http_status_code when absent"], rows)


def truncation_table() -> list[str]:
    rows = [
        [_code(name), f"{limit:,}", "the end" if name == "stack_trace" else "the start"]
        for name, limit in contract.MAX_FIELD_CHARS.items()
    ]
    return _table(["field", "max characters (marker included)", "keeps"], rows)


def settings_table() -> list[str]:
    defaults = contract.DEFAULT_SETTINGS
    rows = [
        [_code(setting), _code(variable), _code(getattr(defaults, setting))]
        for setting, variable in contract.ENVIRONMENT_VARIABLES.items()
    ]
    return _table(["setting", "environment variable", "default"], rows)


def kafka_python_extras() -> dict[str, str]:
    """kafka-python's optional extras (extra -> package), from its installed metadata."""
    extras = {}
    for requirement in importlib.metadata.requires("kafka-python") or ():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)[^;]*;\s*extra\s*==\s*['\"](\w+)['\"]", requirement)
        if match:
            extras[match.group(2)] = match.group(1)
    return extras


def kafka_python_support(codec: str) -> str:
    """What a kafka-python consumer needs to read `codec`."""
    if codec == "gzip":
        return f"{_code(codec)} is built in (Python's `gzip`)"
    package = kafka_python_extras()[codec]
    return (
        f'{_code(codec)} needs `pip install "kafka-python[{codec}]"` (the `{package}` package); '
        f"without it, reading raises `UnsupportedCodecError: Libraries for {codec} compression "
        "codec not found`"
    )


def codec_support() -> list[str]:
    return [
        f"- kafka-python: {kafka_python_support(DEFAULT_COMPRESSION)}.",
        "- librdkafka-based clients (confluent-kafka, ...): the confluent-kafka wheels have every",
        "  codec built in; a librdkafka built from source has a codec only if it was built with",
        "  its library (libzstd for `zstd`, zlib for `gzip`).",
        "- Java clients: every codec, `zstd` since Kafka 2.1.",
    ]


def headers_table(example: contract.PreparedRecord) -> list[str]:
    rows = [
        [_code(name), _code(value.decode()), HEADER_MEANINGS[name]]
        for name, value in example.record.headers
    ]
    return _table(["header", "value (the guide's message)", "meaning"], rows)


def consumer_install() -> str:
    """The pip command a kafka-python consumer needs for the default codec."""
    if DEFAULT_COMPRESSION == "gzip":
        return "pip install kafka-python (gzip is built in)"
    return f'pip install "kafka-python[{DEFAULT_COMPRESSION}]"'


def consumer_snippet() -> str:
    """A kafka-python consumer for MSK; tests/test_docs.py runs it against the local broker."""
    settings = contract.DEFAULT_SETTINGS
    topic_variable = contract.ENVIRONMENT_VARIABLES["topic"]
    return f"""\
import json
import os

from kafka import KafkaConsumer  # {consumer_install()}

consumer = KafkaConsumer(
    os.environ.get("{topic_variable}", "{settings.topic}"),
    bootstrap_servers=json.loads(os.environ["KAFKA_BOOTSTRAP_SERVERS"]),
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_plain_username=os.environ["KAFKA_SASL_USERNAME"],
    sasl_plain_password=os.environ["KAFKA_SASL_PASSWORD"],
    ssl_cafile=os.environ.get("KAFKA_SSL_CAFILE"),  # unset for MSK: its certificates are public
    group_id="{CONSUMER_GROUP}",
    auto_offset_reset="earliest",
)
for record in consumer:  # batches arrive compressed; kafka-python decompresses them
    headers = {{name: value.decode("utf-8") for name, value in record.headers}}
    if headers.get("{contract.HEADER_SCHEMA_VERSION}") != "{contract.SCHEMA_VERSION}":
        print("skipped: schema version", headers.get("{contract.HEADER_SCHEMA_VERSION}"))
        continue
    message = json.loads(record.value)
    print(headers["{contract.HEADER_EXCEPTION_TYPE}"], message["order_req_id"], message["s3_key"])
"""


def validation_example() -> list[str]:
    try:
        contract.build_message(INVALID_EVENT)
    except contract.ValidationError as error:
        lines = [f"{item.field}: {item.problem}" for item in error.errors]
    else:  # pragma: no cover - the example is invalid by construction
        raise AssertionError("the invalid example passed validation")
    return ["```", *lines, "```"]


def render() -> str:
    settings = contract.DEFAULT_SETTINGS
    example = contract.prepare_record(GUIDE_MESSAGE)
    filled = contract.build_message(GUIDE_MANUAL_SEND, now=EXAMPLE_TIME)
    headers = ", ".join(f"`{name}`" for name, _ in example.record.headers)
    header_values = ", ".join(
        f"`{name}: {value.decode()}`" for name, value in example.record.headers
    )
    lines = [
        "# Message format",
        "",
        "<!-- Generated by `python docs/message_format.py --write` from",
        "     document_exceptions/contract.py; tests/test_docs.py fails when it is",
        "     stale. Edit the contract or the generator, not this file. -->",
        "",
        "Every document-access exception is one Kafka record. The producer Lambda, the app-side",
        "library, the operator commands and the demo all build it with the same code,",
        "`document_exceptions.contract`, which is the single source of truth for what follows.",
        "",
        "## The record",
        "",
        *_table(
            ["part", "value"],
            [
                [
                    "topic",
                    f"{_code(settings.topic)} (setting `topic`, variable "
                    f"`{contract.ENVIRONMENT_VARIABLES['topic']}`)",
                ],
                [
                    "key",
                    f"{_code(settings.record_key)} for every record (the guide's way: every "
                    "message lands on ONE partition, in order); with `key_by=order_req_id` "
                    "(variable `" + contract.ENVIRONMENT_VARIABLES["key_by"] + "`) the key is "
                    "the message's `order_req_id`, which spreads orders over the partitions "
                    "and keeps each order's messages in order",
                ],
                [
                    "value",
                    f"one JSON object with all {len(contract.FIELDS)} fields below, in that "
                    "order, encoded as compact UTF-8 JSON",
                ],
                [
                    "headers",
                    f"{headers} (for routing without parsing the value), e.g. {header_values}",
                ],
                [
                    "size",
                    f"key + value + headers at most {settings.max_record_bytes:,} bytes "
                    "(setting `max_record_bytes`), below MSK's default `message.max.bytes` "
                    "(1,048,588); a larger record is rejected before it is sent",
                ],
                [
                    "schema",
                    "JSON Schema 2020-12 at "
                    "`document_exceptions/schema/document-exception.schema.json` "
                    f"(`$id` {_code(json_schema.SCHEMA_ID)}, schema version "
                    f"{_code(contract.SCHEMA_VERSION)}); consumers can validate with it",
                ],
            ],
        ),
        "",
        "## Reading the records",
        "",
        f"Records are compressed with {_code(DEFAULT_COMPRESSION)} (`DEFAULT_COMPRESSION` in",
        "`document_exceptions/publisher.py`); the producer variable "
        f"`{environment_variable('compression_type')}`",
        f"can choose {', '.join(map(_code, COMPRESSION_CODECS))} or `none`. The codec is set per",
        "batch; consumers decompress transparently, but only with the codec's library:",
        "",
        *codec_support(),
        "",
        "Every record carries these headers (names are strings, values UTF-8 bytes; kafka-python",
        "gives `record.headers` as a list of `(name, bytes)` pairs, confluent-kafka",
        "`message.headers()`):",
        "",
        *headers_table(example),
        "",
        "A kafka-python consumer for MSK, configured by the guide's variables (the values are in",
        "the stack outputs; the password in the secret of `KafkaSaslCredentials`).",
        "`tests/test_docs.py` runs it against a local SASL_SSL broker after publishing with",
        "this library's publisher:",
        "",
        "```python",
        *consumer_snippet().splitlines(),
        "```",
        "",
        "## Fields",
        "",
        f"Required in what callers send: {', '.join(map(_code, contract.REQUIRED_FIELDS))}. "
        "On the topic every field is present; optional ones without a value are `null`.",
        "",
        *field_table(),
        "",
        "## Filled in when absent",
        "",
        "- `timestamp`: the time of sending, UTC, ISO 8601 with milliseconds and `Z`.",
        f"- `topic` and `key`: the configured topic ({_code(settings.topic)}) and record key "
        f"({_code(settings.record_key)}); a given value must equal them.",
        f"- `source`: the configured default ({_code(settings.default_source)}).",
        "- `http_status_code`: from the exception type (table below).",
        "- `additional_context`: `{}`.",
        "",
        "`order_req_id` and `user_id` also accept integers (Django's `request.user.id`) and carry",
        "them as their decimal string.",
        "",
        "## Exception types and HTTP status codes",
        "",
        f"`exception_type` is any lower snake_case identifier (pattern "
        f"`{contract.EXCEPTION_TYPE_PATTERN}`) of at most {contract.EXCEPTION_TYPE_MAX_CHARS} "
        "characters. The guide's ten common types are listed here; the list is open.",
        "",
        *status_table(),
        "",
        "## Long text is truncated, identifiers are not",
        "",
        "Free text longer than its limit is cut and marked with "
        f"{_code(contract.TRUNCATION_MARKER)}, so the record stays below the size limit; an "
        "identifier (`order_req_id`, `s3_key`, `user_id`, ...) over its limit is an error.",
        "",
        *truncation_table(),
        "",
        "## Validation",
        "",
        "A message that breaks the contract is rejected with one error per problem, each naming",
        "its field; nothing is published. Unknown fields are rejected, not folded into",
        "`additional_context` (a misspelt `userid` would otherwise pass while `user_id` is",
        "missing): put extra data in `additional_context` explicitly, as plain JSON, nested at",
        f"most {contract.MAX_CONTEXT_DEPTH} levels (the same limit for objects and JSON text, on "
        "every way in).",
        f"Input quoted back in an error (a field name, a value) is cut to about "
        f"{ECHO_CHARS} characters.",
        "For example, this event:",
        "",
        *_json_block(INVALID_EVENT),
        "",
        "is rejected with:",
        "",
        *validation_example(),
        "",
        "## Examples",
        "",
        "The guide's message, as it is on the topic (the value's bytes are this object in compact",
        "form):",
        "",
        *_json_block(example.message),
        "",
        "The guide's manual example (`send_document_access_exception(...)`) gives, sent at",
        f"{contract.utc_timestamp(EXAMPLE_TIME)}:",
        "",
        *_json_block(filled),
        "",
        "## Settings",
        "",
        "Environment variables of the producer Lambda and of the app-side library:",
        "",
        *settings_table(),
        "",
        "## Ways in",
        "",
        "- Producer Lambda (`handler.handler`), direct invocation: one message, a list, or",
        '  `{"messages": [...]}`; synchronous callers get a result per message (partition and',
        "  offset, or the validation errors).",
        "- Producer Lambda, SQS: the message is the body of each SQS message.",
        "- Producer Lambda, EventBridge: `detail-type` "
        f"{_code(names.EVENTBRIDGE_DETAIL_TYPE)}, the message in `detail`.",
        "- App-side library: `send_document_access_exception(**fields)`, the",
        "  `@kafka_exception_handler(exception_type)` decorator and the model mixin's",
        "  `handle_document_access_exception(...)`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"write {OUTPUT.name}")
    action.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OUTPUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUTPUT.relative_to(REPO_ROOT)}")
        return 0
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.is_file() else ""
    if current != text:
        stale = OUTPUT.relative_to(REPO_ROOT)
        print(f"{stale} is stale: run python docs/message_format.py --write")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
