from django.conf import settings
from django.urls import include, path

from example_project import orders_api_stub

urlpatterns = [
    # Django's own login and logout views (templates in attachments/templates/registration/).
    path("accounts/", include("django.contrib.auth.urls")),
    path("orders/", include("attachments.urls")),
]

if settings.EXAMPLE_ORDERS_API_STUB:
    urlpatterns.append(path("api/document-orders/", orders_api_stub.document_orders))
