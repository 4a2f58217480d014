from django.conf import settings
from django.db import models

from document_exceptions.app import DocumentAccessExceptionMixin


class OrderRequest(DocumentAccessExceptionMixin, models.Model):
    """A document order; `order.handle_document_access_exception(...)` reports problems."""

    order_req_id = models.CharField(max_length=64, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="order_requests"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.order_req_id
