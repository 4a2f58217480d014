"""Property test (hypothesis) of every way in, against the real local broker: careless and
hostile input through the app library, the producer handler and the topic custom resource.

Generated batches mix valid messages (nasty but legal text, integers for ids, contexts
nested up to the limit, over-long free text that is truncated) with invalid ones (missing
fields, wrong types, lone surrogates, unknown and 100 KB field names, nesting beyond the
limit, records over `max_record_bytes`, malformed SQS envelopes, a foreign detail-type).
For every batch:

- every valid message is on the topic (at least once; duplicates are counted);
- every invalid one is rejected naming the field (or `message` for the input as a whole,
  which is what a JSON text that does not parse gets): raised by `send_document_access_exception`
  (strict), answered to a direct invocation, or parked with that reason (the handler's
  rejected-messages queue, the library's spool for `report`, the decorator's way in);
- nothing crashes or hangs: hypothesis' deadline bounds each example, pytest-timeout each
  test; a fixed number of examples keeps the run time bounded.

The figures (cases tried, messages per outcome) are reported with `tests.figures`: in the
"figures" section of pytest's terminal summary and the tests' junit properties.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import KafkaAdminClient

from document_exceptions.app import api
from document_exceptions.app.settings import AppSettings
from document_exceptions.contract import (
    COMMON_EXCEPTION_TYPES,
    FIELDS,
    MAX_CONTEXT_DEPTH,
    ValidationError,
)
from document_exceptions.echo import echo_name
from document_exceptions.names import EVENTBRIDGE_DETAIL_TYPE
from tests.app_helpers import configure_app
from tests.figures import report_figures
from tests.ops_helpers import (
    REGION,
    LambdaContext,
    eventbridge_event,
    sqs_event,
    without_kafka_environment,
)
from tests.topic_bootstrap_asset import load
from tests.topic_events import CREATE_FAILED_MARKER, cloudformation_event, topic_properties

__all__ = ["configure_app"]  # a fixture

RUN = uuid.uuid4().hex[:8]
# Small records, so that "oversize" costs kilobytes rather than megabytes per example.
MAX_RECORD_BYTES = 16_384
OVERSIZE = "x" * (MAX_RECORD_BYTES + 1_000)
PROPERTY = settings(
    max_examples=60,
    deadline=timedelta(seconds=20),  # an example that hangs fails; none takes a second
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
WHOLE = "message"

# --- messages ---------------------------------------------------------------------------------

NASTY = [
    "\x00",
    "\x1b[2J\x1b[31mFAKE OK\x07",
    "\u202egnp.exe",
    "😀" * 20,
    "'; DROP TABLE orders;--",
    '{"order_req_id": "forged"}',
    "\\",
    "null",
    "\ufeff\u200b",
    "ǅǈ\U00010400",
    "%s%n%x",
]
nasty_text = st.sampled_from(NASTY) | st.text(max_size=30)
nonblank = nasty_text.filter(lambda text: text.strip() != "")
context_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | nasty_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(nasty_text, children, max_size=3)
    ),
    max_leaves=6,
)
valid_fields = st.fixed_dictionaries(
    {
        "s3_key": nonblank,
        "user_id": nonblank | st.integers(0, 10**12),
        "exception_type": st.sampled_from([*COMMON_EXCEPTION_TYPES, "document_download_error"]),
        "error_message": nonblank | st.just("E" * 12_000),  # cut to 10,000 with a marker
    },
    optional={
        "ip_address": st.ip_addresses().map(str) | st.none(),
        "user_agent": nasty_text | st.none(),
        "session_id": nasty_text,
        "file_name": nasty_text,
        "access_type": st.sampled_from(["upload", "download"]),
        "http_status_code": st.integers(100, 599),
        "stack_trace": nasty_text,
        "additional_context": st.dictionaries(nasty_text, context_value, max_size=3),
    },
)
STRING_FIELDS = ("s3_key", "error_message", "user_agent", "session_id", "file_name")
WRONG_TYPES: dict[str, list[Any]] = {
    **{name: [1.5, True, ["x"], {"a": 1}] for name in STRING_FIELDS},
    "user_id": [1.5, False, ["u"]],
    "http_status_code": ["403", 1.5, True, 10**30],
    "additional_context": ["text", ["x"], 3],
    "ip_address": [1, ["10.0.0.1"]],
    "timestamp": [1_700_000_000],
}
BAD_VALUES: list[tuple[str, Any]] = [
    ("ip_address", "999.1.1.1"),
    ("ip_address", "<script>"),
    ("exception_type", "Access Denied"),
    ("exception_type", "x" * 65),
    ("exception_type", "\x1b[2J"),
    ("http_status_code", 99),
    ("timestamp", "yesterday"),
    ("timestamp", "2025-13-45T00:00:00Z"),
    ("topic", "Other"),
    ("key", "OtherKey"),
    ("s3_key", "   "),
    ("error_message", "\t\n"),
    ("user_id", "u" * 257),
]
UNKNOWN_NAMES = st.sampled_from(["userid", "orderReqId", "", "Exception_Type", "k" * 100_000]) | (
    nasty_text.filter(lambda name: name not in FIELDS)
)
INVALID_KINDS = (
    "missing",
    "wrong_type",
    "bad_value",
    "surrogate",
    "unknown",
    "too_deep",
    "oversize",
    "not_an_object",
)


@dataclass
class Case:
    """One generated message: its fields (or any value), and the field a rejection must name
    (None for a valid message). `depth`: additional_context's nesting, built when used."""

    fields: Any
    expected: str | None
    kind: str
    depth: int = 0
    json_expected: str | None = None  # what a JSON text path names, when not `expected`

    @property
    def valid(self) -> bool:
        return self.expected is None

    def as_object(self) -> Any:
        if not self.depth:
            return self.fields
        inner: dict[str, Any] = {}
        for _ in range(self.depth - 1):
            inner = {"a": inner}
        return {**self.fields, "additional_context": inner}

    def as_json(self) -> str:
        """JSON text, written out for a context deeper than json.dumps itself would go."""
        if not self.depth:
            return json.dumps(self.fields)
        head = json.dumps(self.fields)[:-1]
        separator = ", " if self.fields else ""
        nesting = '{"a": ' * (self.depth - 1) + "{}" + "}" * (self.depth - 1)
        return f'{head}{separator}"additional_context": {nesting}}}'


@st.composite
def cases(draw: st.DrawFn, *, objects_only: bool = False) -> Case:  # noqa: PLR0911 - a return per kind
    """A valid message about half the time, otherwise one of INVALID_KINDS."""
    fields = draw(valid_fields)
    kind = draw(st.sampled_from(("valid", *INVALID_KINDS)) | st.just("valid"))
    if kind == "valid":
        return Case(fields, None, kind)
    if kind == "missing":
        name = draw(st.sampled_from(("s3_key", "user_id", "exception_type", "error_message")))
        del fields[name]
        return Case(fields, name, kind)
    if kind == "wrong_type":
        name = draw(st.sampled_from(sorted(WRONG_TYPES)))
        return Case({**fields, name: draw(st.sampled_from(WRONG_TYPES[name]))}, name, kind)
    if kind == "bad_value":
        name, value = draw(st.sampled_from(BAD_VALUES))
        return Case({**fields, name: value}, name, kind)
    if kind == "surrogate":
        name = draw(st.sampled_from(STRING_FIELDS))
        # JSON text cannot carry a lone surrogate: that text is not JSON, named `message`.
        return Case({**fields, name: "half \ud800 a pair"}, name, kind, json_expected=WHOLE)
    if kind == "unknown":
        name = draw(UNKNOWN_NAMES)
        return Case({**fields, name: draw(context_value)}, echo_name(name), kind)
    if kind == "too_deep":
        depth = draw(st.integers(MAX_CONTEXT_DEPTH + 1, 300) | st.just(1_100))
        # orjson parses no deeper than 1,024 levels: deeper text is refused as a whole.
        json_expected = WHOLE if depth > 1_024 else None
        return Case(fields, "additional_context", kind, depth, json_expected)
    if kind == "oversize":
        return Case({**fields, "additional_context": {"blob": OVERSIZE}}, WHOLE, kind)
    if objects_only:  # keyword arguments are always an object
        return Case({**fields, "s3_key": None}, "s3_key", "missing")
    return Case(draw(st.sampled_from([[], 42, None, "text", True])), WHOLE, kind)


def names_the_field(found: str, case: Case, *, json_path: bool) -> bool:
    expected = case.json_expected if json_path and case.json_expected else case.expected
    assert expected is not None
    if found == expected:
        return True
    return found.split(".", 1)[0].split("[", 1)[0] == expected


@dataclass
class Tally:
    """What one entry point did with the generated input."""

    name: str
    cases: int = 0
    valid: int = 0
    rejected: int = 0
    parked: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    tags: list[str] = field(default_factory=list)

    def tag(self, case: Case) -> Case:
        """The case with a unique order_req_id (remembered when it is valid), counted."""
        self.kinds[case.kind] += 1
        if not isinstance(case.fields, dict):
            return case
        number = sum(self.kinds.values())
        tag = f"{RUN}-{self.name}-{number}" if case.valid else f"bad-{RUN}-{number}"
        if case.valid:
            self.tags.append(tag)
        fields = {**case.fields, "order_req_id": tag}
        return Case(fields, case.expected, case.kind, case.depth, case.json_expected)

    def check_topic(self, broker: Any, topic: str, request: pytest.FixtureRequest) -> None:
        records = broker.read_all(topic, expected=len(self.tags), timeout=30)
        on_topic = Counter(json.loads(record.value)["order_req_id"] for record in records)
        missing = [tag for tag in self.tags if not on_topic[tag]]
        assert not missing, f"{len(missing)} valid messages are not on the topic: {missing[:5]}"
        assert not [tag for tag in on_topic if tag.startswith("bad-")], "invalid published"
        duplicates = sum(on_topic.values()) - len(on_topic)
        invalid = sum(self.kinds.values()) - len(self.tags)
        rejected_or_parked = {"rejected": self.rejected, "parked": self.parked}
        figures = {
            "cases": self.cases,
            "valid": len(self.tags),
            "duplicates": duplicates,
            "invalid": invalid,
            **rejected_or_parked,
        }
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.kinds.items()) if count)
        report_figures(
            request,
            self.name,
            figures,
            f"{self.cases} cases, {len(self.tags) + invalid} messages: {len(self.tags)} valid, "
            f"all on the topic ({duplicates} duplicates); {invalid} invalid: {self.rejected} "
            f"rejected naming the field, {self.parked} parked with a reason naming it "
            f"(by kind: {kinds})",
        )


# --- the producer handler ---------------------------------------------------------------------


@pytest.fixture
def producer(
    kafka_broker: Any,
    fresh_topic: Callable[..., str],
    fake_aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Any, str, str]]:
    """The handler module for a new topic, with a (moto) rejected-messages queue."""
    import handler  # noqa: PLC0415 - lambda_src/handler.py, the Lambda's entry module

    without_kafka_environment(monkeypatch)
    topic = kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=1)
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="rejected")
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": json.dumps([kafka_broker.bootstrap]),
        "KAFKA_TOPIC": topic,
        "MESSAGE_MAX_RECORD_BYTES": str(MAX_RECORD_BYTES),
        "REJECTED_QUEUE_URL": queue["QueueUrl"],
    }.items():
        monkeypatch.setenv(name, value)
    handler.reset()
    yield handler, topic, queue["QueueUrl"]
    handler.reset()


def drain(queue_url: str) -> list[str]:
    """The reasons of the messages parked since the last drain."""
    sqs = boto3.client("sqs", region_name=REGION)
    reasons: list[str] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        reasons += [m["MessageAttributes"]["reason"]["StringValue"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return reasons


def check_parked(reasons: list[str], invalid: list[Case], *, json_path: bool) -> None:
    """One parked message per invalid case, each reason naming its case's field."""
    assert len(reasons) == len(invalid), (reasons, [c.kind for c in invalid])
    unmatched = list(invalid)
    for reason in reasons:
        fields = [line.split(": ", 1)[0] for line in reason.split("\n")]
        match = next(
            case
            for case in unmatched
            if any(names_the_field(found, case, json_path=json_path) for found in fields)
        )
        unmatched.remove(match)


@pytest.mark.timeout(120)
def test_direct_invocations(
    producer: tuple[Any, str, str], kafka_broker: Any, request: pytest.FixtureRequest
) -> None:
    handler, topic, _ = producer
    tally = Tally("handler-direct")

    @PROPERTY
    @given(st.lists(cases(), min_size=1, max_size=6))
    def invoke(batch: list[Case]) -> None:
        tally.cases += 1
        messages = [tally.tag(case).as_object() for case in batch]
        response = handler.handler({"messages": messages}, LambdaContext())
        json.dumps(response)  # what the caller gets is JSON
        for case, result in zip(batch, response["results"], strict=True):
            if case.valid:
                assert result["status"] == "published", (case, result)
                continue
            assert result["status"] == "rejected", (case.kind, result)
            assert any(
                names_the_field(error["field"], case, json_path=False) for error in result["errors"]
            ), (case.kind, case.expected, result["errors"])
            assert all(len(error["field"]) <= 80 for error in result["errors"])
            tally.rejected += 1

    invoke()
    tally.check_topic(kafka_broker, topic, request)


ENVELOPE_FAULTS = ("body_null", "body_object", "no_message_id", "not_a_record")


@pytest.mark.timeout(120)
def test_sqs_batches(
    producer: tuple[Any, str, str], kafka_broker: Any, request: pytest.FixtureRequest
) -> None:
    handler, topic, queue_url = producer
    tally = Tally("handler-sqs")

    @PROPERTY
    @given(
        st.lists(
            st.tuples(cases(), st.sampled_from((None,) * 6 + ENVELOPE_FAULTS)),
            min_size=1,
            max_size=8,
        )
    )
    def invoke(batch: list[tuple[Case, str | None]]) -> None:
        tally.cases += 1
        # The first record must look like SQS's, or the event is not an SQS event at all.
        faults = [None if i == 0 and f == "not_a_record" else f for i, (_, f) in enumerate(batch)]
        bodies, invalid = [], []
        for (case, _), fault in zip(batch, faults, strict=True):
            bodies.append(tally.tag(case).as_json())
            if fault is not None:  # the record, not the message, is broken: counted as such
                tally.kinds[case.kind] -= 1
                if case.valid:
                    tally.tags.pop()
            if fault is None and not case.valid:
                invalid.append(case)
        event = sqs_event(bodies, prefix=f"{RUN}-{tally.cases}")
        for index, fault in enumerate(faults):
            record = event["Records"][index]
            expected = f"Records[{index}]"
            if fault == "body_null":
                record["body"], expected = None, f"{expected}.body"
            elif fault == "body_object":
                record["body"], expected = {"order_req_id": "bad"}, f"{expected}.body"
            elif fault == "no_message_id":
                del record["messageId"]
                expected = f"{expected}.messageId"
            elif fault == "not_a_record":
                event["Records"][index] = ["not", "a", "record"]
            if fault is not None:
                tally.kinds[f"envelope:{fault}"] += 1
                invalid.append(Case(None, expected, fault))

        response = handler.handler(event, LambdaContext())

        assert response == {"batchItemFailures": []}  # broker up, queue up: nothing to retry
        check_parked(drain(queue_url), invalid, json_path=True)
        tally.parked += len(invalid)

    invoke()
    tally.check_topic(kafka_broker, topic, request)


@pytest.mark.timeout(120)
def test_eventbridge_events(
    producer: tuple[Any, str, str], kafka_broker: Any, request: pytest.FixtureRequest
) -> None:
    handler, topic, queue_url = producer
    tally = Tally("handler-eventbridge")
    detail_types = st.sampled_from([None] * 8 + ["SomethingElse", "d" * 100_000, "\x1b[2J"])

    @PROPERTY
    @given(st.lists(st.tuples(cases(), detail_types), min_size=1, max_size=4))
    def invoke(batch: list[tuple[Case, str | None]]) -> None:
        tally.cases += 1
        invalid = []
        for case, detail_type in batch:
            detail = tally.tag(case).as_object()
            if detail_type is not None:
                tally.kinds[case.kind] -= 1
                if case.valid:
                    tally.tags.pop()
                case = Case(detail, "detail-type", "detail-type")  # noqa: PLW2901
                tally.kinds["detail-type"] += 1
            event = eventbridge_event(detail, detail_type or EVENTBRIDGE_DETAIL_TYPE)
            (result,) = handler.handler(event, LambdaContext())["results"]
            if case.valid:
                assert result["status"] == "published", (case, result)
                continue
            assert result["status"] == "rejected", (case.kind, result)
            assert any(names_the_field(e["field"], case, json_path=False) for e in result["errors"])
            invalid.append(case)
        check_parked(drain(queue_url), invalid, json_path=False)
        tally.parked += len(invalid)
        tally.rejected += len(invalid)

    invoke()
    tally.check_topic(kafka_broker, topic, request)


# --- the app library --------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_library_send_and_flush(
    kafka_broker: Any,
    fresh_topic: Callable[..., str],
    configure_app: Callable[..., AppSettings],
    request: pytest.FixtureRequest,
) -> None:
    topic = kafka_broker.create_topic(fresh_topic(), partitions=3, replication_factor=1)
    configure_app(
        kafka_broker.bootstrap,
        topic,
        MESSAGE_MAX_RECORD_BYTES=str(MAX_RECORD_BYTES),
        DOCUMENT_EXCEPTIONS_STRICT="true",  # send_...() raises; report() parks, as in production
    )
    tally = Tally("library")
    seen_parked = len(api.parked_reports())

    @PROPERTY
    @given(st.lists(st.tuples(cases(objects_only=True), st.booleans()), min_size=1, max_size=6))
    def send(batch: list[tuple[Case, bool]]) -> None:
        nonlocal seen_parked
        tally.cases += 1
        parked_cases = []
        for case, parks in batch:
            fields = tally.tag(case).as_object()
            if parks:  # the decorator's and the model mixin's way in: never raises
                assert api.report(fields) is case.valid
                if not case.valid:
                    parked_cases.append(case)
                continue
            error: ValidationError | None = None
            try:
                api.send_document_access_exception(**fields)
            except ValidationError as raised:
                error = raised
            assert (error is None) is case.valid, (case.kind, error)
            if error is not None:
                named = error.fields
                assert any(names_the_field(f, case, json_path=False) for f in named), named
                tally.rejected += 1
        result = api.flush(10)
        assert (result.spooled, result.pending) == (0, 0), result
        parked = api.parked_reports()[seen_parked:]
        seen_parked += len(parked)
        reasons = ["\n".join(f"{r['field']}: {r['problem']}" for r in e.reasons) for e in parked]
        check_parked(reasons, parked_cases, json_path=False)
        tally.parked += len(parked)

    send()
    tally.check_topic(kafka_broker, topic, request)


# --- the topic custom resource ----------------------------------------------------------------

topic_bootstrap = load("handler")
VALID_CONFIGS = {
    "retention.ms": "604800000",
    "cleanup.policy": "delete",
    "compression.type": "zstd",
    "min.insync.replicas": "1",
    "max.message.bytes": "1048588",
}
HUGE = "h" * 1_000_000
BAD_PROPERTIES: list[tuple[str, Any]] = [
    ("TopicName", ""),
    ("TopicName", "bad name!"),
    ("TopicName", HUGE),
    ("TopicName", 5),
    ("TopicName", ".."),
    ("Partitions", "0"),
    ("Partitions", "-1"),
    ("Partitions", "three"),
    ("Partitions", "9" * 1_000),
    ("Partitions", []),
    ("ReplicationFactor", "0"),
    ("ReplicationFactor", "\x1b[2J"),
    ("Configs", "retention.ms=1"),
    ("Configs", {"unknown.config": "1"}),
    ("Configs", {"retention.ms": "soon"}),
    ("Configs", {"k" * 100_000: "1"}),
    ("Configs", {"cleanup.policy": "\x1b[2J" + HUGE}),
    ("DeletionPolicy", "Snapshot"),
    ("DeletionPolicy", HUGE),
    ("TimeoutSeconds", "1"),
    ("TimeoutSeconds", "99999"),
    ("ClusterArn", "arn:nope"),
    ("SecretArn", HUGE),
    ("BootstrapBrokers", "no-port-here"),
]


@st.composite
def topic_cases(draw: st.DrawFn) -> tuple[dict[str, Any], str | None]:
    """ResourceProperties as CloudFormation passes them, and the property a failure names."""
    props = {
        "Partitions": str(draw(st.integers(1, 3))),
        "ReplicationFactor": "1",
        "Configs": draw(st.dictionaries(st.sampled_from(sorted(VALID_CONFIGS)), st.just(""))),
        "DeletionPolicy": draw(st.sampled_from(["Retain", "Delete"])),
        "TimeoutSeconds": "10",
    }
    props["Configs"] = {name: VALID_CONFIGS[name] for name in props["Configs"]}
    choice = draw(st.sampled_from(["valid", "valid", "bad", "unknown"]))
    if choice == "bad":
        name, value = draw(st.sampled_from(BAD_PROPERTIES))
        return {**props, name: value}, name
    if choice == "unknown":
        name = draw(st.sampled_from(["Topicname", "k" * 100_000, "\x1b[2J", "Retention"]))
        return {**props, name: "1"}, echo_name(name)
    return props, None


@pytest.mark.timeout(120)
def test_topic_custom_resource(
    kafka_broker: Any,
    fresh_topic: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    without_kafka_environment(monkeypatch)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", json.dumps([kafka_broker.bootstrap]))
    tally = Tally("topic-resource")
    created: dict[str, int] = {}

    @PROPERTY
    @given(topic_cases())
    def create(case: tuple[dict[str, Any], str | None]) -> None:
        overrides, expected = case
        tally.cases += 1
        tally.kinds["valid" if expected is None else "invalid"] += 1
        name = fresh_topic("prop")
        properties = topic_properties(**{"TopicName": name, **overrides})
        event = cloudformation_event("Create", properties)
        context = LambdaContext(timeout_s=300)
        if expected is None:
            result = topic_bootstrap.on_event(event, context)
            assert result["Data"]["TopicName"] == name
            created[name] = int(overrides["Partitions"])
            return
        with pytest.raises(Exception) as raised:  # noqa: PT011 - any failure: its text is checked
            topic_bootstrap.on_event(event, context)
        reason = str(raised.value)
        assert reason.split(":", 1)[0] == expected or reason.startswith(f"{expected}."), reason
        assert "\n" not in reason
        assert len(json.dumps(reason, ensure_ascii=False).encode()) <= 1_026  # quotes too
        tally.rejected += 1
        # CloudFormation then deletes the resource that failed to create: that never fails.
        delete = cloudformation_event("Delete", properties, physical_id=CREATE_FAILED_MARKER)
        assert topic_bootstrap.on_event(delete, context) == {
            "PhysicalResourceId": CREATE_FAILED_MARKER
        }

    create()
    admin = KafkaAdminClient(**kafka_broker.kafka_python_config())
    try:
        described = {t["name"]: t for t in admin.describe_topics(list(created))}
    finally:
        admin.close()
    for name, partitions in created.items():
        assert described[name]["error_code"] == 0, described[name]
        assert len(described[name]["partitions"]) == partitions
    valid, invalid = len(created), tally.rejected
    report_figures(
        request,
        "topic-resource",
        {"cases": tally.cases, "valid": valid, "invalid": invalid},
        f"{tally.cases} cases: {valid} valid, every topic created with its partitions; "
        f"{invalid} invalid, each failing with a one-line reason naming the property "
        "(at most 1 KiB), and its Delete succeeding",
    )
