"""Django app config: add ``"document_exceptions.app"`` to ``INSTALLED_APPS``.

Its ``ready()`` reads and validates the settings when Django starts, so a malformed
``KAFKA_BOOTSTRAP_SERVERS`` (or any other setting) stops the server at start-up with an
error naming it, rather than at the first send.
"""

from __future__ import annotations

from django.apps import AppConfig


class DocumentExceptionsConfig(AppConfig):
    name = "document_exceptions.app"
    label = "document_exceptions"
    verbose_name = "Document exceptions"

    def ready(self) -> None:
        from document_exceptions.app import api  # noqa: PLC0415 - only once Django is ready

        api.configure_if_needed()
