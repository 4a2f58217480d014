"""@kafka_exception_handler: reports to the real broker and always re-raises the original."""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import time
import traceback
import uuid
from typing import Any

import pytest

from document_exceptions.app import ValidationError, api, kafka_exception_handler
from document_exceptions.app.decorator import REPORTED_MARKER, exception_fields
from tests.app_helpers import configure_app, configured_topic, messages

__all__ = ["configure_app", "configured_topic"]  # fixtures


class DocumentError(Exception):
    pass


@kafka_exception_handler("document_download_error")
def download_document(order_req_id: str, s3_key: str, user_id: str, *, size: int = 0) -> str:
    if size < 0:
        raise DocumentError(f"cannot download {s3_key}: size {size}")
    return f"{order_req_id}:{s3_key}:{user_id}"


@pytest.fixture
def topic(configured_topic: str) -> str:
    return configured_topic


def reported(kafka_broker: Any, topic: str, expected: int) -> list[dict[str, Any]]:
    assert api.flush(10).pending == 0
    return messages(kafka_broker.read_all(topic, expected=expected, timeout=5))


@pytest.mark.timeout(30)
def test_the_original_exception_is_re_raised_and_reported_with_the_call_arguments(
    kafka_broker: Any, topic: str
) -> None:
    order = f"SB-{uuid.uuid4().hex[:8]}"
    with pytest.raises(DocumentError) as raised:
        download_document(order, "documents/user123/contract.pdf", user_id="user123", size=-1)
    original = raised.value
    assert str(original) == "cannot download documents/user123/contract.pdf: size -1"
    assert traceback.extract_tb(original.__traceback__)[-1].name == "download_document"

    [message] = reported(kafka_broker, topic, 1)
    assert message["order_req_id"] == order
    assert message["s3_key"] == "documents/user123/contract.pdf"
    assert message["user_id"] == "user123"
    assert message["exception_type"] == "document_download_error"
    assert message["error_message"] == str(original)
    assert message["http_status_code"] == 500
    assert "raise DocumentError" in message["stack_trace"]
    assert message["stack_trace"].rstrip().endswith(f"DocumentError: {original}")
    assert message["additional_context"] == {
        "exception_class": f"{__name__}.DocumentError",
        "function": f"{__name__}.download_document",
    }


@pytest.mark.timeout(30)
def test_a_successful_call_returns_its_value_and_reports_nothing(
    kafka_broker: Any, topic: str
) -> None:
    assert download_document("SB1", "k", "u") == "SB1:k:u"
    assert download_document.__name__ == "download_document"
    assert api.stats().get("submitted", 0) == 0


@pytest.mark.timeout(30)
def test_fixed_fields_and_a_status_code_on_the_exception_are_carried(
    kafka_broker: Any, topic: str
) -> None:
    class QuotaError(Exception):
        status_code = 429

    @kafka_exception_handler("quota_exceeded", access_type="upload", source="billing_app")
    def upload(order_req_id: str, s3_key: str, user_id: int, file_name: str | None = None) -> None:
        raise QuotaError("quota of 100 documents reached")

    with pytest.raises(QuotaError):
        upload("SB2", "documents/a.pdf", 42, file_name="a.pdf")
    [message] = reported(kafka_broker, topic, 1)
    assert message["access_type"] == "upload"
    assert message["source"] == "billing_app"
    assert message["http_status_code"] == 429
    assert message["user_id"] == "42"
    assert message["file_name"] == "a.pdf"


@pytest.mark.timeout(30)
def test_async_functions_are_wrapped_too(kafka_broker: Any, topic: str) -> None:
    @kafka_exception_handler("download_failed")
    async def fetch(order_req_id: str, s3_key: str, user_id: str) -> None:
        await asyncio.sleep(0)
        raise TimeoutError("S3 did not answer")

    with pytest.raises(TimeoutError, match="S3 did not answer"):
        asyncio.run(fetch("SB3", "documents/b.pdf", "u"))
    [message] = reported(kafka_broker, topic, 1)
    assert message["exception_type"] == "download_failed"


@pytest.mark.timeout(30)
def test_nested_decorated_functions_report_an_exception_once(kafka_broker: Any, topic: str) -> None:
    @kafka_exception_handler("file_not_found")
    def inner(order_req_id: str, s3_key: str, user_id: str) -> None:
        raise FileNotFoundError(s3_key)

    @kafka_exception_handler("document_download_error")
    def outer(order_req_id: str, s3_key: str, user_id: str) -> None:
        inner(order_req_id, s3_key, user_id)

    @kafka_exception_handler("document_download_error")
    def translating(order_req_id: str, s3_key: str, user_id: str) -> None:
        try:
            inner(order_req_id, s3_key, user_id)
        except FileNotFoundError as exc:
            raise LookupError("no such document") from exc

    with pytest.raises(FileNotFoundError) as raised:
        outer("SB4", "documents/c.pdf", "u")
    assert getattr(raised.value, REPORTED_MARKER) is True
    with pytest.raises(LookupError):
        translating("SB5", "documents/d.pdf", "u")
    found = reported(kafka_broker, topic, 2)
    assert sorted((m["order_req_id"], m["exception_type"]) for m in found) == [
        ("SB4", "file_not_found"),
        ("SB5", "file_not_found"),
    ]


@pytest.mark.timeout(30)
def test_base_exceptions_are_not_reported_and_pass_through(kafka_broker: Any, topic: str) -> None:
    @kafka_exception_handler("document_download_error")
    def interrupted(order_req_id: str, s3_key: str, user_id: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted("SB6", "k", "u")
    assert api.stats().get("submitted", 0) == 0


@pytest.mark.timeout(60)
def test_with_the_broker_down_the_exception_is_re_raised_at_once_and_reported_later(
    kafka_broker: Any, topic: str
) -> None:
    kafka_broker.relay.refuse()
    kafka_broker.relay.cut()
    started = time.perf_counter()
    with pytest.raises(DocumentError):
        download_document("SB7", "documents/e.pdf", "u", size=-5)
    elapsed = time.perf_counter() - started
    # A report that waited for the broker would take PRODUCER_MAX_BLOCK_MS (2 s) or more.
    assert elapsed < 1.0
    assert api.flush(0.5).spooled == 1

    kafka_broker.relay.heal()
    assert api.drain_spool(30)
    [message] = messages(kafka_broker.read_all(topic, expected=1, timeout=10))
    assert message["order_req_id"] == "SB7"


@pytest.mark.timeout(30)
def test_when_sending_raises_the_original_exception_still_propagates(
    kafka_broker: Any,
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_sender() -> None:
        raise RuntimeError("sender exploded")

    monkeypatch.setattr(api, "get_sender", broken_sender)  # what send and report go through
    with (
        caplog.at_level(logging.ERROR, logger="document_exceptions"),
        pytest.raises(DocumentError) as raised,
    ):
        download_document("SB8", "k", "u", size=-1)
    assert raised.value.__context__ is None
    assert not hasattr(raised.value, REPORTED_MARKER)
    assert "could not report DocumentError" in caplog.text
    assert "sender exploded" in caplog.text
    assert api.stats()["report_failures"] == 1


@pytest.mark.timeout(30)
def test_arguments_the_contract_refuses_do_not_replace_the_exception_and_are_parked(
    kafka_broker: Any, topic: str
) -> None:
    with pytest.raises(DocumentError) as raised:
        download_document("SB9", "", user_id=None, size=-1)  # type: ignore[arg-type]
    stats = api.stats()
    assert (stats["report_failures"], stats["validation_errors"], stats["parked_reports"]) == (
        0,
        1,
        1,
    )
    [parked] = api.parked_reports()
    assert [reason["field"] for reason in parked.reasons] == ["s3_key"]
    assert parked.fields is not None
    assert parked.fields["user_id"] == "anonymous"  # normalized; only the s3_key is wrong
    assert getattr(raised.value, REPORTED_MARKER) is True  # kept: not reported twice


@pytest.mark.timeout(30)
def test_an_anonymous_view_call_is_normalized_as_the_model_mixin_normalizes(
    kafka_broker: Any, topic: str
) -> None:
    """The decorator and handle_document_access_exception share report_fields' normalizer."""

    class AnonymousUser:
        pk = None
        is_authenticated = False

    class Request:
        user = AnonymousUser()
        META = {"REMOTE_ADDR": ""}  # gunicorn on a unix socket

    @kafka_exception_handler("session_expired")
    def view(request: Any, order_req_id: str, s3_key: str) -> None:
        raise PermissionError

    with pytest.raises(PermissionError):
        view(Request(), "SB13", "documents/e.pdf")
    [message] = reported(kafka_broker, topic, 1)
    assert (message["user_id"], message["ip_address"], message["error_message"]) == (
        "anonymous",
        None,
        "PermissionError",
    )


@pytest.mark.timeout(30)
def test_an_exception_whose_str_fails_is_re_raised_and_reported_by_class_name(
    kafka_broker: Any, topic: str
) -> None:
    class UnprintableError(Exception):
        def __str__(self) -> str:
            raise ValueError("no text")

    @kafka_exception_handler("document_download_error")
    def fails(order_req_id: str, s3_key: str, user_id: str) -> None:
        raise UnprintableError

    with pytest.raises(UnprintableError):
        fails("SB10", "k", "u")
    [message] = reported(kafka_broker, topic, 1)
    assert message["error_message"] == "UnprintableError"
    assert "<exception str() failed>" in message["stack_trace"]


def test_a_broken_configuration_does_not_replace_the_exception(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    api.shutdown(timeout=0)
    monkeypatch.setattr(api._state, "settings", None)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "not json")
    monkeypatch.setenv("DOCUMENT_EXCEPTIONS_SPOOL_DIR", str(tmp_path))
    with pytest.raises(DocumentError):
        download_document("SB11", "k", "u", size=-1)
    assert api.stats()["report_failures"] >= 1


@pytest.mark.parametrize(
    ("exception_type", "fixed", "field"),
    [
        ("Download Error", {}, "exception_type"),
        ("x" * 65, {}, "exception_type"),
        ("download_failed", {"userid": "typo"}, "userid"),
        ("download_failed", {"error_message": "fixed"}, "error_message"),
    ],
)
def test_bad_decorator_arguments_are_refused_when_decorating(
    exception_type: str, fixed: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        kafka_exception_handler(exception_type, **fixed)
    assert field in raised.value.fields


def test_a_function_that_cannot_supply_the_required_fields_is_refused_when_decorating() -> None:
    def no_ids(document: str) -> None:
        raise NotImplementedError

    with pytest.raises(ValidationError) as raised:
        kafka_exception_handler("download_failed")(no_ids)
    assert set(raised.value.fields) == {"order_req_id", "s3_key", "user_id"}
    assert "no_ids has no parameter" in str(raised.value)
    # Supplied by fixed values, **kwargs or a view's request: accepted.
    kafka_exception_handler("download_failed", order_req_id="SB", s3_key="k", user_id="u")(no_ids)

    def anything(**kwargs: Any) -> None:
        raise NotImplementedError

    kafka_exception_handler("download_failed")(anything)

    def view(request: Any, order_req_id: str, s3_key: str) -> None:
        raise NotImplementedError

    kafka_exception_handler("download_failed")(view)


def test_fields_come_from_keyword_arguments_and_a_request_like_object() -> None:
    class User:
        pk = 7
        is_authenticated = True

    class Request:
        user = User()
        META = {"REMOTE_ADDR": "10.0.0.1", "HTTP_USER_AGENT": "Mozilla/5.0"}
        session = type("Session", (), {"session_key": "sess_1"})()

    def view(request: Any, **kwargs: Any) -> None:
        raise PermissionError("no")

    try:
        view(Request(), order_req_id="SB12", s3_key="documents/x.pdf")
    except PermissionError as exc:
        fields = exception_fields(
            inspect.signature(view),
            (Request(),),
            {"order_req_id": "SB12", "s3_key": "documents/x.pdf"},
            exc,
            view,
        )
    assert fields["order_req_id"] == "SB12"
    assert fields["s3_key"] == "documents/x.pdf"
    assert fields["user_id"] == 7
    assert fields["ip_address"] == "10.0.0.1"
    assert fields["user_agent"] == "Mozilla/5.0"
    assert fields["session_id"] == "sess_1"
    assert fields["error_message"] == "no"
    assert sys.exc_info() == (None, None, None)


# --- Django class-based views ------------------------------------------------------------------
# Real django.views.View and method_decorator; the request is a stand-in with what View and the
# decorator read, so this module configures no Django settings (tests/test_django_example.py
# sets up the example project's, once per process).


class ViewUser:
    is_authenticated = True

    def __init__(self, pk: int) -> None:
        self.pk = pk


class ViewRequest:
    method = "GET"
    META = {"REMOTE_ADDR": "10.0.0.7", "HTTP_USER_AGENT": "Mozilla/5.0 (view test)"}

    def __init__(self, user_pk: int) -> None:
        self.user = ViewUser(user_pk)


def call_view(view_class: Any, order: str, s3_key: str, positional: bool) -> Any:
    view = view_class.as_view()
    if positional:
        return view(ViewRequest(31), order, s3_key)
    return view(ViewRequest(31), order_req_id=order, s3_key=s3_key)


def assert_view_message(message: dict[str, Any], order: str, s3_key: str, view: str) -> None:
    assert message["order_req_id"] == order
    assert message["s3_key"] == s3_key
    assert message["user_id"] == "31"
    assert message["ip_address"] == "10.0.0.7"
    assert message["user_agent"] == "Mozilla/5.0 (view test)"
    assert message["exception_type"] == "document_download_error"
    assert message["additional_context"]["function"] == f"{__name__}.{view}.get"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("positional", [False, True], ids=["url-kwargs", "url-args"])
@pytest.mark.parametrize("with_never_cache", [False, True], ids=["alone", "with-never-cache"])
def test_method_decorator_on_a_class_based_view_reports_the_call_arguments_by_name(
    kafka_broker: Any, topic: str, positional: bool, with_never_cache: bool
) -> None:
    from django.utils.decorators import method_decorator  # noqa: PLC0415
    from django.views import View  # noqa: PLC0415
    from django.views.decorators.cache import never_cache  # noqa: PLC0415

    handler = kafka_exception_handler("document_download_error")
    raised_in_view: list[DocumentError] = []

    @method_decorator([handler, never_cache] if with_never_cache else handler, name="get")
    class DownloadView(View):
        def get(self, request: Any, order_req_id: str, s3_key: str) -> Any:
            failure = DocumentError(f"cannot download {s3_key}")
            raised_in_view.append(failure)
            raise failure

    order = f"SB-{uuid.uuid4().hex[:8]}"
    with pytest.raises(DocumentError) as raised:
        call_view(DownloadView, order, "documents/cbv/a.pdf", positional)

    assert raised.value is raised_in_view[0]
    innermost = traceback.extract_tb(raised.value.__traceback__)[-1]
    assert (innermost.name, innermost.line) == ("get", "raise failure")
    [message] = reported(kafka_broker, topic, 1)
    assert_view_message(message, order, "documents/cbv/a.pdf", DownloadView.__qualname__)
    assert message["error_message"] == "cannot download documents/cbv/a.pdf"
    assert api.stats().get("report_failures", 0) == 0


@pytest.mark.timeout(30)
def test_a_class_based_view_method_decorated_directly_reports_the_call_arguments_by_name(
    kafka_broker: Any, topic: str
) -> None:
    from django.views import View  # noqa: PLC0415

    raised_in_view: list[DocumentError] = []

    class DownloadView(View):
        @kafka_exception_handler("document_download_error")
        def get(self, request: Any, order_req_id: str, s3_key: str) -> Any:
            failure = DocumentError(f"cannot download {s3_key}")
            raised_in_view.append(failure)
            raise failure

    orders = {False: f"SB-{uuid.uuid4().hex[:8]}", True: f"SB-{uuid.uuid4().hex[:8]}"}
    for positional, order in orders.items():
        with pytest.raises(DocumentError) as raised:
            call_view(DownloadView, order, f"documents/{order}.pdf", positional)
        assert raised.value is raised_in_view[-1]
        innermost = traceback.extract_tb(raised.value.__traceback__)[-1]
        assert (innermost.name, innermost.line) == ("get", "raise failure")

    found = {m["order_req_id"]: m for m in reported(kafka_broker, topic, 2)}
    assert sorted(found) == sorted(orders.values())
    for order, message in found.items():
        assert_view_message(message, order, f"documents/{order}.pdf", DownloadView.__qualname__)
    assert api.stats().get("report_failures", 0) == 0
