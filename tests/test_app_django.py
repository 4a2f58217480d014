"""DocumentAccessExceptionMixin (app/django.py): ``order.handle_document_access_exception(...)``.

What a Django request gives in the seed's ``except`` block: ``REMOTE_ADDR`` ``''`` (gunicorn
on a unix socket), ``request.user.id`` ``None`` (an anonymous user: the
``authentication_failed`` and ``session_expired`` cases), ``str(e)`` ``''``
(``raise PermissionError()``). Each report reaches the real local broker, normalized as the
decorator normalizes (report_fields.py); a report the contract refuses is parked, and the
exception being handled always propagates unchanged.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from document_exceptions.app import DocumentAccessExceptionMixin, api
from document_exceptions.app.decorator import REPORTED_MARKER
from tests.app_helpers import configure_app, configured_topic

__all__ = ["configure_app", "configured_topic"]  # fixtures

S3_KEY = "documents/user123/file.pdf"


class OrderRequest(DocumentAccessExceptionMixin):
    """The seed's model, without a database: the mixin reads ``order_req_id`` only."""

    def __init__(self, order_req_id: str) -> None:
        self.order_req_id = order_req_id


@pytest.fixture
def topic(configured_topic: str) -> str:
    return configured_topic


def upload_as_the_seed_does(order: OrderRequest, error: Exception, **request: Any) -> None:
    """The seed's view: ``except PermissionError as e: order.handle_...(...); raise``."""
    try:
        raise error
    except PermissionError as e:
        order.handle_document_access_exception(
            s3_key=S3_KEY,
            user_id=request["user_id"],
            exception_type=request["exception_type"],
            error_message=str(e),
            ip_address=request["remote_addr"],
            user_agent="Mozilla/5.0",
            access_type="upload",
        )
        raise


SIGNED_IN = {"user_id": 42, "remote_addr": "192.168.1.100", "exception_type": "access_denied"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("request_values", "error", "expected"),
    [
        pytest.param(
            {**SIGNED_IN, "remote_addr": ""},
            PermissionError("no access"),
            {"ip_address": None, "user_id": "42", "error_message": "no access"},
            id="empty_remote_addr",
        ),
        pytest.param(
            {**SIGNED_IN, "user_id": None, "exception_type": "session_expired"},
            PermissionError("session expired"),
            {"ip_address": "192.168.1.100", "user_id": "anonymous", "http_status_code": 401},
            id="anonymous_user",
        ),
        pytest.param(
            SIGNED_IN,
            PermissionError(),
            {"user_id": "42", "error_message": "PermissionError"},
            id="empty_exception_text",
        ),
        pytest.param(
            {"user_id": None, "remote_addr": "", "exception_type": "authentication_failed"},
            PermissionError(),
            {"ip_address": None, "user_id": "anonymous", "error_message": "PermissionError"},
            id="all_three",
        ),
    ],
)
def test_what_a_request_gives_is_reported_to_the_broker(
    kafka_broker: Any,
    topic: str,
    request_values: dict[str, Any],
    error: Exception,
    expected: dict[str, Any],
) -> None:
    order = OrderRequest(f"SB-{uuid.uuid4().hex[:8]}")
    with pytest.raises(PermissionError) as raised:
        upload_as_the_seed_does(order, error, **request_values)
    assert raised.value is error
    assert getattr(error, REPORTED_MARKER) is True
    assert api.flush(10).pending == 0
    [record] = kafka_broker.read_all(topic, expected=1, timeout=5)
    message = json.loads(record.value)
    assert message["order_req_id"] == order.order_req_id
    assert message["exception_type"] == request_values["exception_type"]
    assert {name: message[name] for name in expected} == expected
    assert "PermissionError" in message["stack_trace"]
    stats = api.stats()
    assert (stats["report_failures"], stats["validation_errors"]) == (0, 0)


@pytest.mark.timeout(30)
def test_a_report_the_contract_still_refuses_is_parked_and_the_exception_propagates(
    kafka_broker: Any, topic: str
) -> None:
    order = OrderRequest(f"SB-{uuid.uuid4().hex[:8]}")
    error = PermissionError("no access")
    with pytest.raises(PermissionError) as raised:
        upload_as_the_seed_does(order, error, **{**SIGNED_IN, "exception_type": "Access Denied"})
    assert raised.value is error
    [parked] = api.parked_reports()
    assert [reason["field"] for reason in parked.reasons] == ["exception_type"]
    assert parked.fields is not None
    assert parked.fields["order_req_id"] == order.order_req_id
    assert api.stats()["parked_reports"] == 1

    outcome = api.replay_parked(lambda fields: {**fields, "exception_type": "access_denied"})
    assert outcome.replayed == [parked.row_id]
    assert outcome.still_parked == {}
    [record] = kafka_broker.read_all(topic, expected=1, timeout=5)
    assert json.loads(record.value)["order_req_id"] == order.order_req_id
    assert api.parked_reports() == []
