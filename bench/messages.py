"""Realistic messages for the benchmarks: the guide's example shapes, fields varied, sized."""

from __future__ import annotations

import random
from typing import Any

from document_exceptions.contract import COMMON_EXCEPTION_TYPES, prepare_record
from tests.guide_examples import GUIDE_EXAMPLES

MIN_MESSAGE_BYTES = 700
MAX_MESSAGE_BYTES = 1_024

_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36 Edg/129.0.2792.65",
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64)",
)
_ERRORS = {
    "access_denied": "User does not have permission to access this document",
    "file_not_found": "Document not found in S3",
    "upload_failed": "An error occurred (SlowDown) when calling the PutObject operation",
    "download_failed": "An error occurred (InternalError) when calling the GetObject operation",
    "invalid_file_type": "Unsupported file type: application/x-msdownload",
    "file_too_large": "File exceeds the 25 MB upload limit",
    "quota_exceeded": "Order document quota exceeded (500 documents)",
    "authentication_failed": "Invalid authentication credentials",
    "session_expired": "User session expired",
    "rate_limit_exceeded": "Too many requests: 120 per minute allowed",
    "document_download_error": "An error occurred (NoSuchKey) when calling the GetObject "
    "operation: The specified key does not exist.",
}
_FRAMES = (
    '  File "/app/attachments/views.py", line {n}, in download_document\n'
    "    body = s3.get_object(Bucket=bucket, Key=s3_key)['Body'].read()\n",
    '  File "/app/attachments/services.py", line {n}, in fetch\n'
    "    return self._client.get_object(**params)\n",
    '  File "/usr/local/lib/python3.12/site-packages/botocore/client.py", line {n}, in '
    "_api_call\n    return self._make_api_call(operation_name, kwargs)\n",
    '  File "/app/attachments/decorators.py", line {n}, in wrapper\n'
    "    return func(*args, **kwargs)\n",
)
# Free text that pads a message to its target size (request details, as apps log them).
_DETAIL_TEXT = (
    "presigned url expired bucket policy denies principal kms key disabled object lock "
    "retention version missing multipart upload aborted checksum mismatch region redirect "
    "throttled retry attempt order document contract invoice scan report tenant workspace "
    "request id host replica lifecycle archived glacier restore pending content length"
)
_WORDS = tuple(_DETAIL_TEXT.split())
_DETAIL_OVERHEAD = ',"detail":""'


def guide_shaped_messages(
    count: int,
    seed: int = 20251021,
    low: int = MIN_MESSAGE_BYTES,
    high: int = MAX_MESSAGE_BYTES,
) -> list[dict[str, Any]]:
    """`count` messages in the guide's example shapes (`GUIDE_EXAMPLES`), fields varied.

    Each is what a caller passes (the guide's keyword arguments; `topic`, `key` and the other
    defaults are filled in by the contract) and serializes, complete, to between `low` and
    `high` bytes of JSON: a target size is drawn per message and reached with a free-text
    `additional_context.detail`, as the apps add request details.
    """
    rng = random.Random(seed)
    shapes = sorted(GUIDE_EXAMPLES.items())
    types = list(COMMON_EXCEPTION_TYPES)
    messages = []
    for index in range(count):
        shape, example = shapes[index % len(shapes)]
        user = f"user{rng.randrange(100_000)}@drworkplace.microsoft.com"
        name = f"{rng.choice(('contract', 'invoice', 'scan', 'report', 'id-card'))}-{index}"
        name += rng.choice((".pdf", ".pdf", ".docx", ".png", ".xlsx"))
        exception_type = example["exception_type"] if shape == "decorator" else rng.choice(types)
        frames = rng.randint(1, 2) if shape == "decorator" else 1
        values: dict[str, Any] = {
            "timestamp": f"2025-10-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:"
            f"{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z",
            "order_req_id": f"SB{1_000_000 + rng.randrange(9_000_000)}",
            "s3_key": f"documents/{user.split('@', maxsplit=1)[0]}/{name}",
            "user_id": user,
            "exception_type": exception_type,
            "error_message": _ERRORS[exception_type],
            "source": "django_s3_app",
            "access_type": rng.choice(("download", "upload")),
            "ip_address": (
                f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                if rng.random() < 0.9
                else f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
            ),
            "user_agent": rng.choice(_USER_AGENTS),
            "session_id": f"sess_{rng.getrandbits(64):016x}",
            "file_name": name,
            "stack_trace": "Traceback (most recent call last):\n"
            + "".join(rng.choice(_FRAMES).format(n=rng.randrange(10, 900)) for _ in range(frames))
            + f"botocore.exceptions.ClientError: {_ERRORS[exception_type]}",
        }
        message = {field_: values[field_] for field_ in example if field_ in values}
        context: dict[str, Any] = {
            "bucket": rng.choice(("documents-prod", "documents-archive", "uploads-eu")),
            "region": rng.choice(("eu-west-1", "us-east-1")),
            "request_id": f"{rng.getrandbits(64):016X}",
            "method": "GET" if message.get("access_type", "download") == "download" else "PUT",
            "path": f"/api/orders/{values['order_req_id']}/documents/{name}",
            "content_type": rng.choice(("application/pdf", "image/png", "application/json")),
            "content_length": rng.randrange(1_000, 30_000_000),
            "attempt": rng.randrange(1, 4),
        }
        message["additional_context"] = context
        messages.append(_sized(message, rng.randint(low, high - len(_DETAIL_OVERHEAD)), rng))
        size = len(prepare_record(messages[-1]).record.value)
        if not low <= size <= high:
            raise AssertionError(f"message {index} is {size} bytes, not {low}-{high}")
    return messages


def _sized(message: dict[str, Any], target: int, rng: random.Random) -> dict[str, Any]:
    """`message` about `target` bytes: context entries dropped, the trace cut, or padded."""
    context = message["additional_context"]
    size = len(prepare_record(message).record.value)
    while size > target and len(context) > 1:
        context.popitem()
        size = len(prepare_record(message).record.value)
    while size > target and len(message.get("stack_trace", "")) > 120:  # keep the trace's head
        trace = message["stack_trace"]
        message["stack_trace"] = trace[: max(120, len(trace) - (size - target) - 2)]
        size = len(prepare_record(message).record.value)
    padding = max(1, target - size - len(_DETAIL_OVERHEAD))  # lands within 12 bytes above
    if size < target:
        words: list[str] = []
        while sum(len(word) + 1 for word in words) <= padding:
            words.append(rng.choice(_WORDS))
        context["detail"] = " ".join(words)[:padding]
    return message
