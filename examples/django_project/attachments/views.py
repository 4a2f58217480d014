"""Upload and download views written like the guide's, with the three reporting tools.

- ``order.handle_document_access_exception(...)`` (the model mixin) reports the exceptions a
  view handles itself (access denied, file not found), as in the guide's upload view;
- ``@kafka_exception_handler(...)`` on the download view reports everything else that
  escapes it (a storage failure, the document-orders API refusing the record) and re-raises
  it unchanged; ``order_req_id`` and ``s3_key`` come from the URL, ``user_id``, the client's
  address and user agent from the request. It does not report again an exception raised
  ``from`` one the mixin already reported;
- ``document_orders_service.post_single_document_order(...)`` records successful accesses.
"""

from pathlib import PurePosixPath

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.views.decorators.http import require_GET, require_POST

from attachments.models import OrderRequest

# The guide's imports, changed as the README says ("Using it from a Django service"):
# was: from attachments.document_orders_service import document_orders_service
# was: from kafka.exceptions import kafka_exception_handler
from document_exceptions.app import document_orders_service, kafka_exception_handler

SOURCE = "django_s3_app"


def document_prefix(order_req_id: str) -> str:
    return f"documents/{order_req_id}/"


@login_required
@require_POST
def upload_document(request: HttpRequest, order_req_id: str) -> HttpResponse:
    order = get_object_or_404(OrderRequest, order_req_id=order_req_id)
    upload = request.FILES.get("document")
    if upload is None:
        return JsonResponse({"error": "no file in the 'document' field"}, status=400)
    file_name = get_valid_filename(upload.name)
    s3_key = document_prefix(order_req_id) + file_name
    try:
        if order.owner_id != request.user.id:
            raise PermissionError(
                f"user {request.user.id} may not add documents to order {order_req_id}"
            )
        s3_key = default_storage.save(s3_key, upload)

        # Post successful upload to document-orders API
        document_orders_service.post_single_document_order(
            order_req_id=order_req_id,
            s3_key=s3_key,
            file_name=file_name,
            user_id=request.user.id,
            source=SOURCE,
            access_type="upload",
            accessed_at=timezone.now().isoformat(),
            ip_address=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT"),
        )
    except PermissionError as e:
        order.handle_document_access_exception(
            s3_key=s3_key,
            user_id=request.user.id,
            exception_type="access_denied",
            error_message=str(e),
            ip_address=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT"),
            access_type="upload",
            file_name=file_name,
        )
        raise PermissionDenied(str(e)) from e
    return JsonResponse({"order_req_id": order_req_id, "s3_key": s3_key}, status=201)


@login_required
@require_GET
@kafka_exception_handler("document_download_error", access_type="download")
def download_document(request: HttpRequest, order_req_id: str, s3_key: str) -> HttpResponse:
    order = get_object_or_404(OrderRequest, order_req_id=order_req_id)
    file_name = PurePosixPath(s3_key).name
    try:
        if order.owner_id != request.user.id or not s3_key.startswith(
            document_prefix(order_req_id)
        ):
            raise PermissionError(f"user {request.user.id} may not read {s3_key}")
        if not default_storage.exists(s3_key):
            raise FileNotFoundError(f"document {s3_key} not found")
        handle = default_storage.open(s3_key, "rb")
    except PermissionError as e:
        order.handle_document_access_exception(
            s3_key=s3_key,
            user_id=request.user.id,
            exception_type="access_denied",
            error_message=str(e),
            ip_address=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT"),
            access_type="download",
            file_name=file_name,
        )
        raise PermissionDenied(str(e)) from e
    except FileNotFoundError as e:
        order.handle_document_access_exception(
            s3_key=s3_key,
            user_id=request.user.id,
            exception_type="file_not_found",
            error_message=str(e),
            ip_address=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT"),
            access_type="download",
            file_name=file_name,
        )
        raise Http404(str(e)) from e

    try:
        document_orders_service.post_single_document_order(
            order_req_id=order_req_id,
            s3_key=s3_key,
            file_name=file_name,
            user_id=request.user.id,
            source=SOURCE,
            access_type="download",
            accessed_at=timezone.now().isoformat(),
            ip_address=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT"),
        )
    except BaseException:
        handle.close()
        raise
    return FileResponse(handle, as_attachment=True, filename=file_name)
