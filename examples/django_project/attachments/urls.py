from django.urls import path

from attachments import order_page, views

urlpatterns = [
    path("<str:order_req_id>/", order_page.order_page, name="order"),
    path("<str:order_req_id>/documents/", views.upload_document, name="upload-document"),
    path(
        "<str:order_req_id>/documents/<path:s3_key>",
        views.download_document,
        name="download-document",
    ),
]
