"""document_exceptions.app.document_orders_service against a real local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from document_exceptions.app.document_orders_service import (
    DocumentOrdersClientError,
    DocumentOrdersService,
    DocumentOrdersUnavailableError,
)
from document_exceptions.app.settings import OrdersApiSettings
from document_exceptions.connection import ConfigurationError
from tests.harness.broker import free_port
from tests.orders_api_server import DROP, OrdersApiServer

ACCESS = {
    "order_req_id": "SB1029435",
    "s3_key": "documents/user123/file.pdf",
    "file_name": "file.pdf",
    "user_id": 42,
    "source": "django_s3_app",
    "access_type": "upload",
    "accessed_at": "2025-10-21T10:30:00+00:00",
    "ip_address": "192.168.1.100",
    "user_agent": "Mozilla/5.0",
}


@pytest.fixture
def server() -> Iterator[OrdersApiServer]:
    with OrdersApiServer() as running:
        yield running


def service_for(url: str, max_attempts: int = 3, timeout: float = 2.0) -> DocumentOrdersService:
    sleeps: list[float] = []
    service = DocumentOrdersService(
        OrdersApiSettings(url=url, timeout=timeout, max_attempts=max_attempts),
        sleep=sleeps.append,
    )
    service.sleeps = sleeps  # type: ignore[attr-defined]
    return service


@pytest.mark.timeout(30)
def test_posts_the_documented_json_payload(server: OrdersApiServer) -> None:
    answer = service_for(server.url).post_single_document_order(**ACCESS)
    [request] = server.requests
    assert request.path == "/api/document-orders/"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {**ACCESS, "user_id": "42"}
    assert answer == {"status": 201, "received": request.body}


@pytest.mark.timeout(30)
def test_a_datetime_accessed_at_is_sent_as_iso_8601(server: OrdersApiServer) -> None:
    when = datetime(2025, 10, 21, 10, 30, tzinfo=UTC)
    service_for(server.url).post_single_document_order(**{**ACCESS, "accessed_at": when})
    assert server.requests[0].body["accessed_at"] == "2025-10-21T10:30:00+00:00"


@pytest.mark.timeout(30)
def test_5xx_is_retried_with_backoff_and_the_same_idempotency_key(
    server: OrdersApiServer,
) -> None:
    server.respond_with(503, 500)
    service = service_for(server.url)
    service.post_single_document_order(**ACCESS)
    assert len(server.requests) == 3
    keys = {r.headers["Idempotency-Key"] for r in server.requests}
    assert len(keys) == 1
    assert len(service.sleeps) == 2  # type: ignore[attr-defined]


@pytest.mark.timeout(30)
def test_a_dropped_connection_is_retried(server: OrdersApiServer) -> None:
    server.respond_with(DROP)
    service_for(server.url).post_single_document_order(**ACCESS)
    assert len(server.requests) == 2


@pytest.mark.timeout(30)
@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_4xx_raises_at_once_with_the_status_and_body(server: OrdersApiServer, status: int) -> None:
    server.respond_with(status)
    with pytest.raises(DocumentOrdersClientError) as raised:
        service_for(server.url).post_single_document_order(**ACCESS)
    assert raised.value.status == status
    assert f"HTTP {status}" in str(raised.value)
    assert '"order_req_id": "SB1029435"' in raised.value.body
    assert len(server.requests) == 1


@pytest.mark.timeout(30)
def test_429_is_retried_not_raised(server: OrdersApiServer) -> None:
    server.respond_with(429)
    service_for(server.url).post_single_document_order(**ACCESS)
    assert len(server.requests) == 2


@pytest.mark.timeout(30)
def test_persistent_5xx_raises_unavailable_after_the_bounded_attempts(
    server: OrdersApiServer,
) -> None:
    server.default_status = 502
    with pytest.raises(DocumentOrdersUnavailableError) as raised:
        service_for(server.url, max_attempts=4).post_single_document_order(**ACCESS)
    assert raised.value.attempts == 4
    assert "HTTP 502" in str(raised.value)
    assert len(server.requests) == 4


@pytest.mark.timeout(30)
def test_connection_refused_raises_unavailable_after_the_bounded_attempts() -> None:
    url = f"http://127.0.0.1:{free_port()}/api/"
    service = service_for(url, max_attempts=2)
    with pytest.raises(DocumentOrdersUnavailableError) as raised:
        service.post_single_document_order(**ACCESS)
    assert raised.value.attempts == 2
    assert "refused" in str(raised.value).lower()
    assert len(service.sleeps) == 1  # type: ignore[attr-defined]


@pytest.mark.timeout(30)
def test_backoff_really_sleeps_between_attempts(server: OrdersApiServer) -> None:
    server.respond_with(500)
    service = DocumentOrdersService(OrdersApiSettings(url=server.url, max_attempts=2))
    service.post_single_document_order(**ACCESS)
    assert len(server.requests) == 2


@pytest.mark.parametrize("missing", ["order_req_id", "s3_key", "user_id", "access_type"])
def test_a_missing_required_field_is_refused_before_any_request(
    server: OrdersApiServer, missing: str
) -> None:
    with pytest.raises(ValueError, match=missing):
        service_for(server.url).post_single_document_order(**{**ACCESS, missing: None})
    assert server.requests == []


def test_without_a_url_the_error_names_the_setting() -> None:
    service = DocumentOrdersService(OrdersApiSettings(url=None))
    with pytest.raises(ConfigurationError) as raised:
        service.post_single_document_order(**ACCESS)
    assert raised.value.variable == "DOCUMENT_ORDERS_API_URL"


def test_the_url_is_read_from_the_environment_when_not_configured(
    server: OrdersApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCUMENT_ORDERS_API_URL", server.url)
    monkeypatch.setenv("DOCUMENT_ORDERS_API_MAX_ATTEMPTS", "1")
    service = DocumentOrdersService()
    assert service.settings.url == server.url
    assert service.settings.max_attempts == 1
