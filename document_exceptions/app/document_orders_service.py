"""Post successful document accesses to the document-orders API (the guide's service).

``POST {DOCUMENT_ORDERS_API_URL}`` with ``Content-Type: application/json`` and this body::

    {
        "order_req_id": "SB1029435",              # str
        "s3_key": "documents/user123/file.pdf",   # str
        "file_name": "file.pdf",                  # str or null
        "user_id": "42",                          # str (request.user.id is sent as text)
        "source": "django_s3_app",                # str
        "access_type": "upload",                  # str, e.g. upload / download / view
        "accessed_at": "2025-10-21T10:30:00+00:00",  # ISO 8601 (a datetime is converted)
        "ip_address": "192.168.1.100",            # str or null
        "user_agent": "Mozilla/5.0..."            # str or null
    }

Every attempt of one call carries the same ``Idempotency-Key`` header (a UUID), so an API that
honours it can drop the duplicate a retry creates when only the response was lost.

Any 2xx is success. 4xx (and a redirect, which a POST does not follow) raises
:class:`DocumentOrdersClientError` at once (the request is wrong, retrying cannot help),
except 408 and 429, which are transient by definition. 5xx, 408, 429, timeouts and
connection errors are retried, up to ``DOCUMENT_ORDERS_API_MAX_ATTEMPTS`` attempts in all,
with exponential backoff and jitter (``Retry-After`` is honoured up to the backoff cap); then
:class:`DocumentOrdersUnavailableError` is raised. Uses only the standard library (urllib).
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from document_exceptions.app.settings import (
    ORDERS_API_URL,
    OrdersApiSettings,
    load_orders_api_settings,
    merged_settings,
)
from document_exceptions.connection import ConfigurationError

logger = logging.getLogger(__name__)

RETRYABLE_CLIENT_STATUSES = (408, 429)
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0
MAX_BODY_IN_ERROR = 500


class DocumentOrdersError(Exception):
    """The document-orders API did not accept the access record."""


class DocumentOrdersClientError(DocumentOrdersError):
    """The API answered 4xx: the request itself is wrong (not retried)."""

    def __init__(self, status: int, body: str, url: str) -> None:
        super().__init__(
            f"document-orders API refused the record: HTTP {status} from {url}: {body}"
        )
        self.status = status
        self.body = body
        self.url = url


class DocumentOrdersUnavailableError(DocumentOrdersError):
    """Every attempt failed with 5xx, a timeout or a connection error."""

    def __init__(self, attempts: int, last_problem: str, url: str) -> None:
        super().__init__(
            f"document-orders API unavailable after {attempts} attempt(s) at {url}: {last_problem}"
        )
        self.attempts = attempts
        self.last_problem = last_problem
        self.url = url


class DocumentOrdersService:
    """Client of the document-orders API; settings are read at the first call unless given."""

    def __init__(
        self,
        settings: OrdersApiSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._opener = opener or urllib.request.build_opener()

    def configure(self, settings: OrdersApiSettings) -> None:
        self._settings = settings

    @property
    def settings(self) -> OrdersApiSettings:
        if self._settings is None:
            self._settings = load_orders_api_settings(merged_settings())
        return self._settings

    def post_single_document_order(  # noqa: PLR0917 - the guide's positional signature
        self,
        order_req_id: str,
        s3_key: str,
        file_name: str | None,
        user_id: Any,
        source: str,
        access_type: str,
        accessed_at: str | datetime,
        ip_address: str | None = None,
        user_agent: str | None = None,
    ) -> dict[str, Any] | None:
        """Post one successful access; returns the API's JSON answer (None if it sent none)."""
        payload = build_payload(
            order_req_id=order_req_id,
            s3_key=s3_key,
            file_name=file_name,
            user_id=user_id,
            source=source,
            access_type=access_type,
            accessed_at=accessed_at,
            ip_address=ip_address,
            user_agent=user_agent,
        )
        return self._post(payload)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        settings = self.settings
        if not settings.url:
            raise ConfigurationError(ORDERS_API_URL, "not set; the document-orders endpoint URL")
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        problem = ""
        for attempt in range(1, settings.max_attempts + 1):
            request = urllib.request.Request(  # noqa: S310 - the scheme is checked in settings
                settings.url, data=body, headers=headers, method="POST"
            )
            retry_after: float | None = None
            try:
                with self._opener.open(request, timeout=settings.timeout) as response:
                    return _json_or_none(response.read())
            except urllib.error.HTTPError as exc:
                text = _body_text(exc)
                if exc.code < 500 and exc.code not in RETRYABLE_CLIENT_STATUSES:
                    raise DocumentOrdersClientError(exc.code, text, settings.url) from None
                problem = f"HTTP {exc.code}: {text}"
                retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < settings.max_attempts:
                delay = min(
                    BACKOFF_CAP_SECONDS,
                    retry_after
                    if retry_after is not None
                    else BACKOFF_BASE_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5),  # noqa: S311
                )
                logger.warning(
                    "document-orders attempt %d/%d failed (%s); retrying in %.2fs",
                    attempt,
                    settings.max_attempts,
                    problem,
                    delay,
                )
                self._sleep(delay)
        raise DocumentOrdersUnavailableError(settings.max_attempts, problem, settings.url)


def build_payload(
    *,
    order_req_id: str,
    s3_key: str,
    file_name: str | None,
    user_id: Any,
    source: str,
    access_type: str,
    accessed_at: str | datetime,
    ip_address: str | None,
    user_agent: str | None,
) -> dict[str, Any]:
    """The JSON body documented above; raises ValueError naming a missing required field."""
    required = {
        "order_req_id": order_req_id,
        "s3_key": s3_key,
        "user_id": user_id,
        "source": source,
        "access_type": access_type,
        "accessed_at": accessed_at,
    }
    for name, value in required.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError(f"post_single_document_order: {name} is required")
    if isinstance(accessed_at, datetime):
        accessed_at = accessed_at.isoformat()
    return {
        "order_req_id": str(order_req_id),
        "s3_key": s3_key,
        "file_name": file_name,
        "user_id": str(user_id),
        "source": source,
        "access_type": access_type,
        "accessed_at": accessed_at,
        "ip_address": ip_address,
        "user_agent": user_agent,
    }


def _json_or_none(raw: bytes) -> dict[str, Any] | None:
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else {"response": value}


def _body_text(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()
    except OSError:
        return ""
    return raw.decode("utf-8", "replace").strip()[:MAX_BODY_IN_ERROR]


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


document_orders_service = DocumentOrdersService()
