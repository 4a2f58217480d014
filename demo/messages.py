"""The guide's example messages, and which entry point the demo sends each one through.

`GUIDE_MESSAGE` is the guide's "Message Format" example, all 17 fields exactly as written
there; `GUIDE_MANUAL_SEND` is its "Manual Exception Sending" example (both from
`tests.guide_examples`); the decorator and the model mixin examples are the
guide's "Using Decorator" and "In Views/Services" code, run in `demo.publishing`. The other
messages give every one of the guide's ten common exception types one appearance.
`INVALID_EVENT` breaks the contract three ways.

`EXPECTED` lists every message that must end up on the topic: (entry point, order_req_id,
exception_type). The end-to-end test compares the demo's count table with it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.guide_examples import GUIDE_MANUAL_SEND, GUIDE_MESSAGE


def _message(order: str, exception_type: str, error: str, **extra: Any) -> dict[str, Any]:
    """A message in the guide's shape: the required fields plus typical optional ones."""
    return {
        "order_req_id": order,
        "s3_key": f"documents/user123/{order.lower()}.pdf",
        "user_id": "user123",
        "exception_type": exception_type,
        "error_message": error,
        "ip_address": "192.168.1.100",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "session_id": "sess_abc123def456",
        "file_name": f"{order.lower()}.pdf",
        **extra,
    }


DIRECT_BATCH = [
    _message("SB1029436", "upload_failed", "S3 PutObject failed: SlowDown", access_type="upload"),
    _message("SB1029437", "download_failed", "S3 GetObject failed: InternalError"),
    _message("SB1029438", "rate_limit_exceeded", "More than 100 downloads in a minute"),
]
SQS_MESSAGES = [
    _message("SB1029439", "invalid_file_type", "Unsupported file type: .exe", access_type="upload"),
    _message("SB1029440", "file_too_large", "File is 120 MB; the limit is 100 MB"),
    _message("SB1029441", "quota_exceeded", "Order SB1029441 has used its 500 downloads"),
]
EVENTBRIDGE_MESSAGES = [
    _message("SB1029442", "authentication_failed", "Invalid or missing token"),
    _message("SB1029443", "session_expired", "Session sess_abc123def456 expired"),
]
DECORATOR_CALL = {
    "order_req_id": "SB1029444",
    "s3_key": "documents/user123/file.pdf",
    "user_id": "user123",
}
DECORATOR_EXCEPTION_TYPE = "document_download_error"
MIXIN_ORDER = "SB1029445"
MIXIN_EXCEPTION_TYPE = "access_denied"

INVALID_EVENT: dict[str, Any] = {
    "s3_key": "documents/user123/file.pdf",
    "user_id": "user123",
    "exception_type": "Access Denied",
    "error_message": "User does not have permission to access this document",
    "ip_address": "999.1.1.1",
}

EXPECTED: tuple[tuple[str, str, str], ...] = (
    ("direct", GUIDE_MESSAGE["order_req_id"], GUIDE_MESSAGE["exception_type"]),
    *(("direct-batch", m["order_req_id"], m["exception_type"]) for m in DIRECT_BATCH),
    *(("sqs", m["order_req_id"], m["exception_type"]) for m in SQS_MESSAGES),
    *(("eventbridge", m["order_req_id"], m["exception_type"]) for m in EVENTBRIDGE_MESSAGES),
    ("library", GUIDE_MANUAL_SEND["order_req_id"], GUIDE_MANUAL_SEND["exception_type"]),
    ("decorator", DECORATOR_CALL["order_req_id"], DECORATOR_EXCEPTION_TYPE),
    ("mixin", MIXIN_ORDER, MIXIN_EXCEPTION_TYPE),
)


def expected_counts() -> Counter[str]:
    """Messages per exception_type that the demo must find on the topic."""
    return Counter(exception_type for _, _, exception_type in EXPECTED)


def entry_point_of(order_req_id: str, exception_type: str) -> str:
    """The entry point a message was sent through (each pair is sent once)."""
    for entry, order, kind in EXPECTED:
        if (order, kind) == (order_req_id, exception_type):
            return entry
    return "?"
