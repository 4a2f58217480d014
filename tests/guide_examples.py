"""The guide's example messages (test data): one source for the tests, the demo and the benchmark.

From the guide's "Message Format" (the full message) and "Usage Examples" (the calls of
`send_document_access_exception`, `order.handle_document_access_exception` and the
`@kafka_exception_handler('document_download_error')` decorator, as the fields they send).
Its "Exception Types" are `document_exceptions.fields.COMMON_EXCEPTION_TYPES`. Data only:
this module imports nothing from the package.
"""

from __future__ import annotations

from typing import Any

# "Message Format": messages sent to 'DocumentExceptions' with key 'DocumentAccessLog'.
GUIDE_MESSAGE: dict[str, Any] = {
    "timestamp": "2025-10-21T10:30:00Z",
    "topic": "DocumentExceptions",
    "key": "DocumentAccessLog",
    "order_req_id": "SB1029435",
    "s3_key": "documents/user123/contract.pdf",
    "user_id": "sb.user2@drworkplace.microsoft.com",
    "exception_type": "access_denied",
    "error_message": "User does not have permission to access this document",
    "source": "django_s3_app",
    "access_type": "download",
    "ip_address": "192.168.1.100",
    "user_agent": "Mozilla/5.0...",
    "session_id": "sess_abc123def456",
    "file_name": "contract.pdf",
    "http_status_code": 403,
    "stack_trace": "Traceback...",
    "additional_context": {},
}

# "Manual Exception Sending": send_document_access_exception(...).
GUIDE_MANUAL_SEND: dict[str, Any] = {
    "order_req_id": "SB1029435",
    "s3_key": "documents/file.pdf",
    "user_id": "user123",
    "exception_type": "file_not_found",
    "error_message": "Document not found in S3",
    "ip_address": "192.168.1.1",
    "session_id": "sess_123",
}

# "In Views/Services": order.handle_document_access_exception(...), order_req_id from the model.
GUIDE_VIEW_EXCEPTION: dict[str, Any] = {
    "order_req_id": "SB1029435",
    "s3_key": "documents/user123/file.pdf",
    "user_id": "user123",
    "exception_type": "access_denied",
    "error_message": "User does not have permission to upload to this order",
    "ip_address": "192.168.1.100",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "access_type": "upload",
}

# "Using Decorator": @kafka_exception_handler('document_download_error') on
# download_document(order_req_id, s3_key, user_id).
GUIDE_DECORATOR: dict[str, Any] = {
    "order_req_id": "SB1029435",
    "s3_key": "documents/user123/contract.pdf",
    "user_id": "user123",
    "exception_type": "document_download_error",
    "error_message": "An error occurred (NoSuchKey) when calling the GetObject operation",
    "stack_trace": 'Traceback (most recent call last):\n  File "views.py", line 12, in '
    "download_document\nbotocore.errorfactory.NoSuchKey: An error occurred (NoSuchKey)",
}

GUIDE_EXAMPLES: dict[str, dict[str, Any]] = {
    "message_format": GUIDE_MESSAGE,
    "manual_send": GUIDE_MANUAL_SEND,
    "view_exception": GUIDE_VIEW_EXCEPTION,
    "decorator": GUIDE_DECORATOR,
}
