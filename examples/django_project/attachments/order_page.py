"""An order's page: an upload form and links to its documents (to try the views in a browser).

Not part of the pattern the example shows (that is in views.py); it only saves typing
multipart requests by hand.
"""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from attachments.models import OrderRequest
from attachments.views import document_prefix


@login_required
@require_GET
def order_page(request: HttpRequest, order_req_id: str) -> HttpResponse:
    order = get_object_or_404(OrderRequest, order_req_id=order_req_id)
    prefix = document_prefix(order_req_id)
    try:
        _, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        files = []
    context = {
        "order": order,
        "documents": [prefix + name for name in sorted(files)],
        "missing": prefix + "missing.pdf",
    }
    return render(request, "attachments/order.html", context)
