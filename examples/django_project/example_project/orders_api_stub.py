"""A stand-in for the document-orders API, served by the example itself.

The views record every successful upload and download with
`document_orders_service.post_single_document_order(...)`, an HTTP POST to
DOCUMENT_ORDERS_API_URL. There is no such API on a laptop, so the example answers at
`/api/document-orders/` itself (settings.EXAMPLE_ORDERS_API_STUB, on by default) and logs
what it was sent. Point DOCUMENT_ORDERS_API_URL at the real API and turn the stub off to
use yours. `runserver` serves requests in threads, so a view can call it while it runs.
"""

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger("example.orders_api_stub")


@csrf_exempt  # an API called by servers, not a form posted from a browser
@require_POST
def document_orders(request: HttpRequest) -> HttpResponse:
    try:
        record = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    logger.info(
        "orders API stub: %s of %s for order %s by user %s",
        record.get("access_type"),
        record.get("s3_key"),
        record.get("order_req_id"),
        record.get("user_id"),
    )
    return JsonResponse({"status": "recorded", "received": record}, status=201)
