"""What the guide's helpers take from a request, made reportable: one normalizer for both.

``@kafka_exception_handler`` and ``order.handle_document_access_exception(...)`` are handed
what a Django request and an exception give: ``REMOTE_ADDR`` (``''`` behind gunicorn on a
unix socket), ``request.user.id`` (``None`` for an anonymous user: exactly the
``authentication_failed`` and ``session_expired`` cases), ``str(e)`` (``''`` for
``raise PermissionError()``). The contract rightly refuses those values, and a report of an
anonymous user's failed access is still worth having, so both helpers pass their fields
through :func:`normalize_report_fields` first:

- ``ip_address`` that is not an IPv4 or IPv6 address (``''``, ``unix:``, a proxy's list): dropped;
- ``user_id`` ``None`` or blank: ``"anonymous"``; a Django user object: its ``pk``
  (``"anonymous"`` when not authenticated);
- ``error_message`` ``None`` or blank: ``str(exc)``, else the exception's class name (the
  exception type when there is no exception).

``send_document_access_exception`` itself does not normalize: what its caller passes is
checked by the contract as given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

ANONYMOUS_USER_ID = "anonymous"


def normalize_report_fields(
    fields: Mapping[str, Any], exc: BaseException | None = None
) -> dict[str, Any]:
    """A copy of ``fields`` with the request-shaped values above made reportable."""
    normalized = dict(fields)
    normalized["user_id"] = user_id(normalized.get("user_id"))
    if "ip_address" in normalized and not is_ip(normalized["ip_address"]):
        del normalized["ip_address"]
    if _blank(normalized.get("error_message")):
        if exc is not None:
            normalized["error_message"] = error_message(exc)
        else:
            exception_type = normalized.get("exception_type")
            normalized["error_message"] = (
                exception_type if isinstance(exception_type, str) and exception_type else "error"
            )
    return normalized


def user_id(value: Any) -> Any:
    """The user to report: ``"anonymous"`` for none, a user object's ``pk``."""
    if hasattr(value, "is_authenticated"):  # a Django user (or AnonymousUser) object
        value = value.pk if value.is_authenticated else None
    return ANONYMOUS_USER_ID if _blank(value) else value


def error_message(exc: BaseException) -> str:
    """``str(exc)``; the class name when that is empty or fails."""
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not stop the report
        text = ""
    return text if text.strip() else type(exc).__name__


def is_ip(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
