"""Property tests of the message contract and the producer handler's entry points (hypothesis).

Whatever arrives (any JSON-ish value, any text as an SQS body), the validator and the
handler never crash: each input is either published or rejected, and a rejection's errors
each name a field (one of the contract's FIELDS, an unknown key as given, a path inside
additional_context, or `message` for the input as a whole). What the handler reports as
published is exactly what the broker has.

Stable in CI: a fixed number of examples, no deadline, derandomized, no example database.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from document_exceptions.contract import (
    COMMON_EXCEPTION_TYPES,
    DEFAULT_SETTINGS,
    EXCEPTION_TYPE_MAX_CHARS,
    FIELDS,
    REQUIRED_FIELDS,
    ContractSettings,
    PreparedRecord,
    ValidationError,
    prepare_json,
    prepare_record,
)
from document_exceptions.echo import echo_name
from rejected_queue import MAX_REASON_CHARS, sqs_text
from tests.ops_helpers import (
    REGION,
    LambdaContext,
    sqs_event,
    without_kafka_environment,
)

EXAMPLES = 200
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WHOLE_INPUT = "message"

# --- strategies ------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_ish = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(-3, 3), children, max_size=4)
    ),
    max_leaves=10,
)
portable_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
nonblank = st.text(min_size=1, max_size=40).filter(lambda text: text.strip() != "")
lower_snake = st.from_regex(r"[a-z][a-z0-9]{0,10}(_[a-z0-9]{1,8}){0,3}", fullmatch=True)
valid_values: dict[str, st.SearchStrategy[Any]] = {
    "timestamp": st.datetimes(timezones=st.just(UTC)).map(
        lambda moment: moment.isoformat().replace("+00:00", "Z")
    ),
    "topic": st.just(DEFAULT_SETTINGS.topic),
    "key": st.just(DEFAULT_SETTINGS.record_key),
    "order_req_id": nonblank | st.integers(min_value=0, max_value=10**12),
    "s3_key": nonblank,
    "user_id": nonblank | st.integers(min_value=0, max_value=10**9),
    "exception_type": st.sampled_from(
        [*COMMON_EXCEPTION_TYPES, "document_download_error", "x" * EXCEPTION_TYPE_MAX_CHARS]
    )
    | lower_snake,
    "error_message": nonblank | st.just("E" * 12_000),  # beyond the limit: truncated
    "source": nonblank,
    "access_type": st.sampled_from(["upload", "download", "view"]) | st.none(),
    "ip_address": st.ip_addresses().map(str) | st.none(),
    "user_agent": st.text(max_size=40) | st.just("Mozilla/5.0 " * 200) | st.none(),
    "session_id": st.text(max_size=30) | st.none(),
    "file_name": st.text(max_size=30) | st.none(),
    "http_status_code": st.integers(min_value=100, max_value=599),
    "stack_trace": st.text(max_size=60) | st.just("Traceback...\n" * 10_000) | st.none(),
    "additional_context": st.dictionaries(st.text(max_size=8), portable_json, max_size=3),
}
# Each field: absent, a valid value, or anything at all; plus, sometimes, unknown keys.
messages = st.builds(
    lambda known, extra: {**extra, **known},
    st.fixed_dictionaries(
        {}, optional={name: valid_values.get(name, json_ish) | json_ish for name in FIELDS}
    ),
    st.dictionaries(
        st.sampled_from(["userid", "orderReqId", "extra", "", "Exception_Type"])
        | st.text(string.ascii_letters, max_size=6),
        json_ish,
        max_size=2,
    ),
)
# Mostly valid: every required field valid, optional ones valid or absent.
valid_messages = st.fixed_dictionaries(
    {name: valid_values[name] for name in REQUIRED_FIELDS},
    optional={name: valid_values[name] for name in FIELDS if name not in REQUIRED_FIELDS},
)
anything = json_ish | messages | valid_messages


def names_a_field(field: str, given: Any) -> bool:
    """The rule every rejection obeys: the error names something the caller can find (an
    unknown key as quoted back: cut short, what does not print escaped)."""
    if field in FIELDS or field == WHOLE_INPUT:
        return True
    if field.startswith(("additional_context.", "additional_context[")):
        return True
    return isinstance(given, Mapping) and field in {echo_name(key) for key in given}


def check_rejection(error: ValidationError, given: Any) -> None:
    assert error.errors, "a rejection without errors"
    for problem in error.errors:
        assert names_a_field(problem.field, given), (problem, given)
        assert problem.problem.strip()
    assert str(error)  # printable, as logs and the rejected queue carry it


def check_accepted(record: PreparedRecord, settings_: ContractSettings = DEFAULT_SETTINGS) -> None:
    message = json.loads(record.record.value)
    assert list(message) == list(FIELDS)
    assert message == record.message
    for name in REQUIRED_FIELDS:
        assert isinstance(message[name], str)
        assert message[name].strip()
    assert 100 <= message["http_status_code"] <= 599
    assert isinstance(message["additional_context"], dict)
    assert (message["topic"], message["key"]) == (settings_.topic, settings_.record_key)
    assert record.size <= settings_.max_record_bytes


# --- the validator ------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@PROPERTY
@given(anything)
def test_prepare_record_accepts_or_rejects_naming_each_field(given_value: Any) -> None:
    try:
        record = prepare_record(given_value)
    except ValidationError as error:
        check_rejection(error, given_value)
    else:
        check_accepted(record)


@pytest.mark.timeout(120)
@PROPERTY
@given(valid_messages)
def test_every_valid_message_is_accepted_and_keeps_its_values(fields: dict[str, Any]) -> None:
    record = prepare_record(fields)
    check_accepted(record)
    for name, value in fields.items():
        if name in record.truncated:
            assert len(record.message[name]) < len(value)
            assert "[truncated:" in record.message[name]
        elif value is not None:
            expected = str(value) if name in ("order_req_id", "user_id") else value
            assert record.message[name] == expected, name


@pytest.mark.timeout(120)
@PROPERTY
@given(
    st.text(max_size=80)
    | st.binary(max_size=40)
    | json_ish.map(lambda value: json.dumps(value, allow_nan=True))
    | anything.map(lambda value: json.dumps(value, allow_nan=True, default=str))
)
def test_prepare_json_takes_any_body_text_and_names_what_is_wrong(body: str | bytes) -> None:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = None
    try:
        record = prepare_json(body)
    except ValidationError as error:
        check_rejection(error, parsed)
    else:
        check_accepted(record)


# --- the producer handler against the real broker ---------------------------------------------


@pytest.fixture
def handler_on_topic(kafka_broker: Any, fresh_topic: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The producer handler configured (seed variables) for a new topic; reset afterwards."""
    import handler  # noqa: PLC0415 - lambda_src/handler.py, the Lambda's entry module

    without_kafka_environment(monkeypatch)
    topic = kafka_broker.create_topic(fresh_topic())
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))
    monkeypatch.setenv("KAFKA_TOPIC", topic)
    handler.reset()
    yield handler, topic
    handler.reset()


@pytest.mark.timeout(180)
def test_direct_invocations_publish_or_reject_anything_and_report_only_what_the_broker_has(
    handler_on_topic: Any, kafka_broker: Any
) -> None:
    handler, topic = handler_on_topic
    settings_ = ContractSettings(topic=topic)
    reported: set[tuple[int, int]] = set()
    rejected = 0

    @PROPERTY
    @given(anything | st.fixed_dictionaries({"messages": st.lists(anything, max_size=5)}))
    def invoke(event: Any) -> None:
        nonlocal rejected
        assume(handler.event_shape(event) == "direct")
        assume(not (isinstance(event, dict) and event.get("raise_on_failure") is True))
        response = handler.handler(event, LambdaContext())

        json.dumps(response)  # a synchronous caller can read it
        assert "error" not in response, response
        items = event["messages"] if isinstance(event, dict) and "messages" in event else None
        if items is None:
            items = event if isinstance(event, list) else [event]
        if not isinstance(items, list):  # {"messages": <not a list>}: one rejection
            (result,) = response["results"]
            assert result["status"] == "rejected"
            rejected += 1
            return
        assert [result["index"] for result in response["results"]] == list(range(len(items)))
        for item, result in zip(items, response["results"], strict=True):
            if result["status"] == "published":
                record = prepare_record(item, settings_)  # it was valid
                check_accepted(record, settings_)
                reported.add((result["partition"], result["offset"]))
            else:
                assert result["status"] == "rejected", result  # never "failed": broker is up
                check_rejection(ValidationError(_field_errors(result["errors"])), item)
                rejected += 1

    invoke()

    on_topic = kafka_broker.read_all(topic, expected=len(reported), timeout=30)
    assert {(record.partition, record.offset) for record in on_topic} == reported
    assert reported, "no example was valid: the strategy is broken"
    assert rejected, "no example was invalid: the strategy is broken"


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("fake_aws")
def test_sqs_batches_publish_valid_bodies_and_park_the_rest_with_their_reason(
    handler_on_topic: Any, kafka_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, topic = handler_on_topic
    sqs = boto3.client("sqs", region_name=REGION)
    rejected_url = sqs.create_queue(QueueName="rejected")["QueueUrl"]
    monkeypatch.setenv("REJECTED_QUEUE_URL", rejected_url)
    handler.reset()
    settings_ = ContractSettings(topic=topic)
    published = 0
    parked = 0

    bodies = st.lists(
        st.text(max_size=40)
        | anything.map(lambda value: json.dumps(value, allow_nan=True, default=str))
        | valid_messages.map(json.dumps),
        min_size=1,
        max_size=8,
    )

    @PROPERTY
    @given(bodies)
    def invoke(batch: list[str]) -> None:
        nonlocal published, parked
        response = handler.handler(sqs_event(batch), LambdaContext())

        assert response == {"batchItemFailures": []}  # broker up, parking works: no retries
        rejected: list[tuple[str, ValidationError]] = []  # (body as parked, why)
        for body in batch:
            try:
                prepare_json(body, settings_)
            except ValidationError as error:
                check_rejection(error, _loads_or_none(body))
                rejected.append((body or "(empty)", error))
            else:
                published += 1
        # Drained after each batch: moto's queue operations slow down with its depth.
        in_queue = _drain(sqs, rejected_url)
        # Parked as SQS takes it: a character SQS refuses is written as its JSON escape.
        assert sorted(m["Body"] for m in in_queue) == sorted(sqs_text(b) for b, _ in rejected)
        reasons = {
            sqs_text(body): sqs_text(str(error))[:MAX_REASON_CHARS] for body, error in rejected
        }
        for message in in_queue:
            reason = message["MessageAttributes"]["reason"]["StringValue"]
            assert reason == reasons[message["Body"]]
        parked += len(in_queue)

    invoke()

    on_topic = kafka_broker.read_all(topic, expected=published, timeout=30)
    assert len(on_topic) == published
    assert published, "no example was valid: the strategy is broken"
    assert parked, "no example was invalid: the strategy is broken"


def _field_errors(errors: list[dict[str, str]]) -> list[Any]:
    from document_exceptions.contract import FieldError  # noqa: PLC0415

    return [FieldError(error["field"], error["problem"]) for error in errors]


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            return messages
        messages += received
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)
            ],
        )
