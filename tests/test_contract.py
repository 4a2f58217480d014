"""The message contract: fields, defaults, every validation error, truncation, size, schema."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from document_exceptions import contract, encoding
from document_exceptions.contract import (
    COMMON_EXCEPTION_TYPES,
    DEFAULT_HTTP_STATUS_CODE,
    FIELDS,
    HTTP_STATUS_BY_EXCEPTION_TYPE,
    MAX_FIELD_CHARS,
    REQUIRED_FIELDS,
    ContractError,
    ContractSettings,
    FieldError,
    ValidationError,
    build_message,
    prepare_json,
    prepare_record,
)
from tests.guide_examples import (
    GUIDE_DECORATOR,
    GUIDE_EXAMPLES,
    GUIDE_MANUAL_SEND,
    GUIDE_MESSAGE,
)

NOW = datetime(2025, 10, 21, 10, 30, 0, 123456, tzinfo=UTC)
VALID: dict[str, Any] = {
    "order_req_id": "SB1029435",
    "s3_key": "documents/file.pdf",
    "user_id": "user123",
    "exception_type": "file_not_found",
    "error_message": "Document not found in S3",
}


def compact_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def errors_of(
    fields: Any, settings_: ContractSettings = contract.DEFAULT_SETTINGS
) -> list[FieldError]:
    with pytest.raises(ValidationError) as raised:
        prepare_record(fields, settings_)
    return list(raised.value.errors)


# --- the contract's constants match the guide -------------------------------------------


def test_fields_are_the_seeds_seventeen_in_the_seeds_order() -> None:
    assert list(FIELDS) == list(GUIDE_MESSAGE)
    assert len(FIELDS) == 17


def test_required_fields() -> None:
    assert REQUIRED_FIELDS == (
        "order_req_id",
        "s3_key",
        "user_id",
        "exception_type",
        "error_message",
    )


def test_common_exception_types_are_the_guides_ten_with_descriptions() -> None:
    assert list(COMMON_EXCEPTION_TYPES) == [
        "access_denied",
        "file_not_found",
        "upload_failed",
        "download_failed",
        "invalid_file_type",
        "file_too_large",
        "quota_exceeded",
        "authentication_failed",
        "session_expired",
        "rate_limit_exceeded",
    ]
    assert COMMON_EXCEPTION_TYPES["access_denied"] == "User doesn't have permission"
    assert all(COMMON_EXCEPTION_TYPES.values())


def test_http_status_table_covers_every_common_type() -> None:
    assert set(HTTP_STATUS_BY_EXCEPTION_TYPE) == set(COMMON_EXCEPTION_TYPES)
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["access_denied"] == 403
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["file_not_found"] == 404
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["file_too_large"] == 413
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["invalid_file_type"] == 415
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["authentication_failed"] == 401
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["session_expired"] == 401
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["quota_exceeded"] == 429
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["rate_limit_exceeded"] == 429
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["upload_failed"] == 500
    assert HTTP_STATUS_BY_EXCEPTION_TYPE["download_failed"] == 500


# --- defaults ---------------------------------------------------------------------------


def test_the_seeds_full_message_is_kept_exactly() -> None:
    record = prepare_record(GUIDE_MESSAGE)
    assert record.message == GUIDE_MESSAGE
    assert record.record.value == compact_json(GUIDE_MESSAGE)
    assert record.record.key == b"DocumentAccessLog"


def test_defaults_are_filled_in() -> None:
    message = build_message(GUIDE_MANUAL_SEND, now=NOW)
    assert message == {
        "timestamp": "2025-10-21T10:30:00.123Z",
        "topic": "DocumentExceptions",
        "key": "DocumentAccessLog",
        "order_req_id": "SB1029435",
        "s3_key": "documents/file.pdf",
        "user_id": "user123",
        "exception_type": "file_not_found",
        "error_message": "Document not found in S3",
        "source": "django_s3_app",
        "access_type": None,
        "ip_address": "192.168.1.1",
        "user_agent": None,
        "session_id": "sess_123",
        "file_name": None,
        "http_status_code": 404,
        "stack_trace": None,
        "additional_context": {},
    }
    assert list(message) == list(FIELDS)


def test_timestamp_default_is_now_in_utc_with_z() -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    stamp = build_message(VALID)["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    parsed = datetime.fromisoformat(stamp)
    assert before <= parsed <= datetime.now(UTC) + timedelta(seconds=1)


def test_timestamp_of_a_naive_or_offset_time_is_utc() -> None:
    assert contract.utc_timestamp(datetime(2025, 1, 2, 3, 4, 5)) == "2025-01-02T03:04:05.000Z"
    plus_two = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2)))
    assert contract.utc_timestamp(plus_two) == "2025-01-02T01:04:05.678Z"


def test_configured_topic_key_and_source_are_filled_in() -> None:
    settings_ = ContractSettings(topic="Exceptions.dev", record_key="Log", default_source="billing")
    message = build_message(VALID, settings_)
    assert (message["topic"], message["key"], message["source"]) == (
        "Exceptions.dev",
        "Log",
        "billing",
    )


@pytest.mark.parametrize(
    ("exception_type", "status"), sorted(HTTP_STATUS_BY_EXCEPTION_TYPE.items())
)
def test_http_status_code_comes_from_the_exception_type(exception_type: str, status: int) -> None:
    assert build_message({**VALID, "exception_type": exception_type})["http_status_code"] == status


def test_unlisted_exception_types_are_accepted_with_the_default_status() -> None:
    message = build_message(GUIDE_DECORATOR)
    assert message["exception_type"] == "document_download_error"
    assert message["http_status_code"] == DEFAULT_HTTP_STATUS_CODE == 500


def test_given_values_win_over_defaults() -> None:
    fields = {
        **VALID,
        "http_status_code": 410,
        "source": "other_app",
        "timestamp": "2025-10-21T12:30:00+02:00",
    }
    message = build_message(fields)
    assert message["http_status_code"] == 410
    assert message["source"] == "other_app"
    assert message["timestamp"] == "2025-10-21T12:30:00+02:00"


def test_integer_ids_are_carried_as_strings() -> None:
    message = build_message({**VALID, "order_req_id": 1029435, "user_id": 42})
    assert (message["order_req_id"], message["user_id"]) == ("1029435", "42")


def test_field_order_is_the_contracts_whatever_the_input_order() -> None:
    shuffled = dict(reversed(list(GUIDE_MESSAGE.items())))
    assert prepare_record(shuffled).record.value == compact_json(GUIDE_MESSAGE)


def test_null_optional_fields_are_fine() -> None:
    message = build_message(
        {**VALID, "ip_address": None, "user_agent": None, "additional_context": None}
    )
    assert message["ip_address"] is None
    assert message["additional_context"] == {}


# --- every validation error -------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
def test_missing_required_field(name: str) -> None:
    fields = {k: v for k, v in VALID.items() if k != name}
    assert errors_of(fields) == [FieldError(name, "required")]


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
def test_null_required_field(name: str) -> None:
    assert errors_of({**VALID, name: None}) == [FieldError(name, "required")]


@pytest.mark.parametrize("name", [*REQUIRED_FIELDS[:3], "error_message", "source"])
@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_blank_required_string(name: str, blank: str) -> None:
    assert errors_of({**VALID, name: blank}) == [FieldError(name, "must not be empty")]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("order_req_id", ["SB1"], "expected a string, got list"),
        ("s3_key", 5, "expected a string, got int"),
        ("user_id", True, "expected a string, got bool"),
        ("exception_type", 3, "expected a string, got int"),
        ("exception_type", ["access_denied"], "expected a string, got list"),
        ("exception_type", {"type": "x"}, "expected a string, got dict"),
        ("error_message", {"text": "x"}, "expected a string, got dict"),
        ("source", 1, "expected a string, got int"),
        ("access_type", 2, "expected a string, got int"),
        ("ip_address", 3232235777, "expected a string, got int"),
        ("user_agent", 1.5, "expected a string, got float"),
        ("session_id", ["s"], "expected a string, got list"),
        ("file_name", {"name": "f"}, "expected a string, got dict"),
        ("stack_trace", ["frame"], "expected a string, got list"),
        ("http_status_code", "403", "expected an integer, got str"),
        ("http_status_code", True, "expected an integer, got bool"),
        ("http_status_code", 403.0, "expected an integer, got float"),
        ("additional_context", [], "expected a JSON object, got list"),
        ("additional_context", "{}", "expected a JSON object, got str"),
        ("timestamp", 1760000000, "expected an ISO 8601 string, got int"),
        ("topic", 7, "expected a string, got int"),
        ("key", b"DocumentAccessLog", "expected a string, got bytes"),
    ],
)
def test_wrong_types(name: str, value: Any, problem: str) -> None:
    assert errors_of({**VALID, name: value}) == [FieldError(name, problem)]


@pytest.mark.parametrize(
    "address", ["1.2.3", "256.1.1.1", "localhost", "", "1.2.3.4 ", "01.2.3.4", "::g"]
)
def test_ip_address_that_is_not_ipv4_or_ipv6(address: str) -> None:
    (error,) = errors_of({**VALID, "ip_address": address})
    assert error.field == "ip_address"
    assert "is not an IPv4 or IPv6 address" in error.problem


@pytest.mark.parametrize(
    "address", ["192.168.1.100", "2001:db8::1", "::1", "::ffff:10.0.0.1", "fe80::1%eth0"]
)
def test_ip_addresses_accepted(address: str) -> None:
    assert build_message({**VALID, "ip_address": address})["ip_address"] == address


@pytest.mark.parametrize(
    "exception_type",
    [
        "Access_Denied",
        "access-denied",
        "access denied",
        "_access",
        "access_",
        "access__denied",
        "1_access",
        "a" * 65,
    ],
)
def test_exception_type_that_is_not_lower_snake_case_up_to_64(exception_type: str) -> None:
    (error,) = errors_of({**VALID, "exception_type": exception_type})
    assert error.field == "exception_type"
    assert "lower snake_case identifier of at most 64 characters" in error.problem


@pytest.mark.parametrize("exception_type", ["document_download_error", "x", "a1_b2", "a" * 64])
def test_open_exception_types_accepted(exception_type: str) -> None:
    assert (
        build_message({**VALID, "exception_type": exception_type})["exception_type"]
        == exception_type
    )


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-10-21 10:30:00Z",
        "2025-10-21T10:30:00",
        "2025-13-01T00:00:00Z",
        "yesterday",
        "2025-10-21",
    ],
)
def test_timestamp_that_is_not_iso_8601_with_a_timezone(stamp: str) -> None:
    (error,) = errors_of({**VALID, "timestamp": stamp})
    assert error.field == "timestamp"


@pytest.mark.parametrize("status", [99, 600, -1])
def test_http_status_code_out_of_range(status: int) -> None:
    assert errors_of({**VALID, "http_status_code": status}) == [
        FieldError("http_status_code", f"{status} is not an HTTP status code (100-599)")
    ]


@pytest.mark.parametrize(
    ("context", "field", "problem"),
    [
        ({"ratio": math.nan}, "additional_context.ratio", "nan is not a JSON number"),
        ({"ratio": math.inf}, "additional_context.ratio", "inf is not a JSON number"),
        ({1: "one"}, "additional_context", "key 1 is not a string"),
        (
            {"when": datetime(2025, 1, 1)},
            "additional_context.when",
            "a datetime is not a JSON value",
        ),
        ({"tags": {"a", "b"}}, "additional_context.tags", "a set is not a JSON value"),
        ({"n": 2**64}, "additional_context.n", "integer outside the 64-bit range"),
        (
            {"list": [1, {"x": math.nan}]},
            "additional_context.list[1].x",
            "nan is not a JSON number",
        ),
    ],
)
def test_additional_context_that_is_not_plain_json(
    context: dict[Any, Any], field: str, problem: str
) -> None:
    assert errors_of({**VALID, "additional_context": context}) == [FieldError(field, problem)]


def test_additional_context_nested_too_deep() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(contract.MAX_CONTEXT_DEPTH + 1):
        node["a"] = {}
        node = node["a"]
    (error,) = errors_of({**VALID, "additional_context": deep})
    assert error.problem == f"nested deeper than {contract.MAX_CONTEXT_DEPTH} levels"


def test_every_additional_context_problem_is_reported() -> None:
    errors = errors_of({**VALID, "additional_context": {"a": math.nan, "b": {2: 3}, "c": object()}})
    assert [e.field for e in errors] == [
        "additional_context.a",
        "additional_context.b",
        "additional_context.c",
    ]


def test_unknown_fields_are_rejected_one_error_each() -> None:
    errors = errors_of({**VALID, "userid": "u", "extra": 1})
    assert [e.field for e in errors] == ["extra", "userid"]
    assert all("unknown field" in e.problem and "additional_context" in e.problem for e in errors)


def test_topic_and_key_must_be_the_configured_ones() -> None:
    errors = errors_of({**VALID, "topic": "Other", "key": "OtherKey"})
    assert errors == [
        FieldError("topic", "'Other' is not the configured topic 'DocumentExceptions'"),
        FieldError("key", "'OtherKey' is not the configured record key 'DocumentAccessLog'"),
    ]


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("order_req_id", 128),
        ("s3_key", 1024),
        ("user_id", 256),
        ("session_id", 256),
        ("file_name", 1024),
        ("access_type", 64),
        ("source", 128),
    ],
)
def test_identifiers_longer_than_their_limit_are_rejected_not_cut(name: str, limit: int) -> None:
    assert build_message({**VALID, name: "x" * limit})[name] == "x" * limit
    assert errors_of({**VALID, name: "x" * (limit + 1)}) == [
        FieldError(name, f"is {limit + 1} characters, more than the {limit} allowed")
    ]


@pytest.mark.parametrize("not_an_object", [["a"], "text", None, 42])
def test_a_message_that_is_not_an_object(not_an_object: Any) -> None:
    (error,) = errors_of(not_an_object)
    assert error.field == "message"
    assert "expected a JSON object" in error.problem


@pytest.mark.parametrize("body", ["{", "not json", '{"a": NaN}', b"\xff\xfe"])
def test_invalid_json_text(body: str | bytes) -> None:
    with pytest.raises(ValidationError) as raised:
        prepare_json(body)
    (error,) = raised.value.errors
    assert error.field == "message"
    assert error.problem.startswith("not valid JSON")


def test_a_string_that_is_not_utf8_encodable_names_its_field() -> None:
    (error,) = errors_of({**VALID, "file_name": "bad\ud800name"})
    assert error.field == "file_name"
    assert "cannot be encoded as UTF-8 JSON" in error.problem


def test_many_problems_are_all_reported_in_field_order_one_line_each() -> None:
    fields = {"s3_key": "", "exception_type": "Bad Type", "ip_address": "1.2.3", "bogus": 1}
    with pytest.raises(ValidationError) as raised:
        prepare_record(fields)
    error = raised.value
    assert error.fields == (
        "bogus",
        "order_req_id",
        "s3_key",
        "user_id",
        "exception_type",
        "error_message",
        "ip_address",
    )
    lines = str(error).splitlines()
    assert len(lines) == len(error.errors)
    assert lines[0].startswith("bogus: unknown field")
    assert "order_req_id: required" in lines
    assert error.to_list()[1] == {"field": "order_req_id", "problem": "required"}


# --- truncation and size ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["error_message", "user_agent"])
def test_long_free_text_keeps_its_start_and_says_it_was_cut(name: str) -> None:
    limit = MAX_FIELD_CHARS[name]
    text = "".join(f"{i:08d}" for i in range(limit // 4))
    record = prepare_record({**VALID, name: text})
    cut = record.message[name]
    assert len(cut) == limit
    assert cut.endswith(f"...[truncated: {len(text)} characters in total]")
    assert text.startswith(cut[: limit - 60])
    assert record.truncated == (name,)


def test_long_stack_trace_keeps_its_end() -> None:
    limit = MAX_FIELD_CHARS["stack_trace"]
    trace = "Traceback (most recent call last):\n" + "  frame\n" * limit + "ValueError: the cause"
    cut = prepare_record({**VALID, "stack_trace": trace}).message["stack_trace"]
    assert len(cut) == limit
    assert cut.startswith(f"...[truncated: {len(trace)} characters in total]")
    assert cut.endswith("ValueError: the cause")


def test_text_at_the_limit_is_untouched() -> None:
    text = "e" * MAX_FIELD_CHARS["error_message"]
    record = prepare_record({**VALID, "error_message": text})
    assert record.message["error_message"] == text
    assert record.truncated == ()


def test_a_record_over_max_record_bytes_is_rejected_naming_the_largest_field() -> None:
    (error,) = errors_of({**VALID, "additional_context": {"blob": "x" * 1_100_000}})
    assert error.field == "message"
    assert re.fullmatch(
        r"record is \d+ bytes, more than max_record_bytes 1000000 "
        r"\(largest field: additional_context\)",
        error.problem,
    )


def test_max_record_bytes_is_a_setting_and_counts_key_value_and_headers() -> None:
    message = {**GUIDE_MESSAGE, "additional_context": {"blob": "b" * 20_000}}
    record = prepare_record(message)
    assert record.size == contract.record_size(
        record.record.key, record.record.value, record.record.headers
    )
    assert record.size > len(record.record.key) + len(record.record.value)
    exact = ContractSettings(max_record_bytes=record.size)
    assert prepare_record(message, exact).record.value == record.record.value
    with pytest.raises(ValidationError, match="more than max_record_bytes"):
        prepare_record(message, ContractSettings(max_record_bytes=record.size - 1))


def test_truncated_worst_case_still_fits_the_default_record_size() -> None:
    huge = {name: "\U0001f600" * (limit * 2) for name, limit in MAX_FIELD_CHARS.items()}
    record = prepare_record({**VALID, **huge})
    assert record.size <= contract.DEFAULT_MAX_RECORD_BYTES
    assert set(record.truncated) == set(MAX_FIELD_CHARS)


# --- record key, headers, bytes -----------------------------------------------------------


def test_headers_let_consumers_route_without_parsing() -> None:
    record = prepare_record(GUIDE_MESSAGE)
    assert record.record.headers == [
        ("exception_type", b"access_denied"),
        ("source", b"django_s3_app"),
        ("schema_version", b"1"),
        ("content-type", b"application/json"),
    ]


def test_key_by_order_req_id_changes_the_record_key_not_the_message() -> None:
    constant = prepare_record(GUIDE_MESSAGE)
    by_order = prepare_record(GUIDE_MESSAGE, ContractSettings(key_by="order_req_id"))
    assert constant.record.key == b"DocumentAccessLog"
    assert by_order.record.key == b"SB1029435"
    assert by_order.record.value == constant.record.value


@pytest.mark.parametrize("example", sorted(GUIDE_EXAMPLES))
def test_seed_examples_serialize_exactly_as_json_would(example: str) -> None:
    record = prepare_record(GUIDE_EXAMPLES[example], now=NOW)
    assert record.record.value == compact_json(record.message)
    assert json.loads(record.record.value) == record.message
    assert (
        prepare_json(json.dumps(GUIDE_EXAMPLES[example]), now=NOW).record.value
        == record.record.value
    )


def test_both_encoders_are_available_and_agree_on_the_seed_message() -> None:
    message = build_message(GUIDE_MESSAGE)
    assert encoding._encode_with_orjson(message) == encoding._encode_with_json(message)
    assert contract.JSON_ENCODER == "orjson"


json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200
).filter(lambda text: text.strip())


@settings(max_examples=150, deadline=None)
@given(
    error_message=texts,
    user_agent=st.none() | texts,
    stack_trace=st.none() | texts,
    context_text=st.dictionaries(st.text(max_size=10), json_scalars, max_size=5),
    context_any=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_orjson_bytes_are_json_bytes_and_mean_the_same(
    error_message: str,
    user_agent: str | None,
    stack_trace: str | None,
    context_text: dict[str, Any],
    context_any: dict[str, Any],
) -> None:
    fields = {
        **VALID,
        "error_message": error_message,
        "user_agent": user_agent,
        "stack_trace": stack_trace,
    }
    no_floats = build_message({**fields, "additional_context": context_text}, now=NOW)
    assert encoding._encode_with_orjson(no_floats) == encoding._encode_with_json(no_floats)
    with_floats = build_message({**fields, "additional_context": context_any}, now=NOW)
    assert json.loads(encoding._encode_with_orjson(with_floats)) == json.loads(
        encoding._encode_with_json(with_floats)
    )


# --- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"topic": "bad topic"}, "topic"),
        ({"topic": ""}, "topic"),
        ({"record_key": ""}, "record_key"),
        ({"default_source": ""}, "default_source"),
        ({"key_by": "user_id"}, "key_by"),
        ({"max_record_bytes": 100}, "max_record_bytes"),
        ({"max_record_bytes": True}, "max_record_bytes"),
    ],
)
def test_invalid_contract_settings_name_the_setting(kwargs: dict[str, Any], setting: str) -> None:
    with pytest.raises(ContractError) as raised:
        ContractSettings(**kwargs)
    assert raised.value.setting == setting
    assert str(raised.value).startswith(f"{setting}: ")


def test_contract_settings_from_environment() -> None:
    settings_ = ContractSettings.from_environment(
        {
            "KAFKA_TOPIC": "DocumentExceptions-dev",
            "MESSAGE_RECORD_KEY": "Log",
            "MESSAGE_DEFAULT_SOURCE": "svc",
            "MESSAGE_KEY_BY": "order_req_id",
            "MESSAGE_MAX_RECORD_BYTES": "500000",
        }
    )
    assert settings_ == ContractSettings(
        "DocumentExceptions-dev", "Log", "svc", "order_req_id", 500_000
    )
    assert ContractSettings.from_environment({}) == ContractSettings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KAFKA_TOPIC", "no spaces"),
        ("MESSAGE_KEY_BY", "nope"),
        ("MESSAGE_MAX_RECORD_BYTES", "1MB"),
        ("MESSAGE_MAX_RECORD_BYTES", "10"),
    ],
)
def test_contract_settings_errors_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ContractError, match=f"^{variable}: "):
        ContractSettings.from_environment({variable: value})


def test_echoed_input_is_cut_short() -> None:
    huge = "k" * 1_000_000
    errors = errors_of(
        {
            **VALID,
            huge: 1,
            "topic": "T" * 249,
            "additional_context": {huge: {huge: float("nan")}, "b": {10**6 * "z": None, 3: 1}},
        }
    )
    assert len(errors) == 4
    for error in errors:
        assert len(error.field) <= 80, error.field
        assert len(error.problem) < 400, error.problem


def test_nesting_is_checked_the_same_on_the_json_path_without_recursion() -> None:
    def text(depth: int) -> str:
        head = json.dumps(VALID)[:-1]
        return head + ', "additional_context": ' + '{"a": ' * (depth - 1) + "{}" + "}" * depth

    prepare_json(text(contract.MAX_CONTEXT_DEPTH))
    for depth in (contract.MAX_CONTEXT_DEPTH + 1, 254, 255, 1000, 100_000):
        with pytest.raises(ValidationError) as raised:
            prepare_json(text(depth))
        (error,) = raised.value.errors
        assert error.field.startswith(("additional_context.a", "message")), error


def test_the_stdlib_json_path_refuses_deep_text_before_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encoding, "orjson", None)
    with pytest.raises(ValidationError) as raised:
        encoding.parse_message("[" * 100_000 + "]" * 100_000)
    assert str(raised.value) == "message: nested deeper than 254 levels"
    assert encoding.parse_message('["[[[[", {"a": [1]}]') == ["[[[[", {"a": [1]}]
    assert encoding.parse_message(b'{"a": 1}') == {"a": 1}
    deep = json.dumps(VALID)[:-1] + ', "additional_context": ' + '{"a": ' * 40 + "1" + "}" * 41
    with pytest.raises(ValidationError, match="nested deeper than 32 levels"):
        prepare_json(deep)
