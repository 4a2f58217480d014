"""The app-side library: the guide's Django API for reporting document-access exceptions.

::

    from document_exceptions.app import send_document_access_exception, kafka_exception_handler

Messages are validated and serialized by the shared contract (``document_exceptions.contract``)
in the calling thread, then delivered in the background (Kafka with kafka-python, or the
producer Lambda); what cannot be delivered is spooled locally and replayed. Fields the
contract refuses raise ``ValidationError`` in strict mode (tests, Django ``DEBUG``) and are
parked otherwise (``parked_reports``, ``replay_parked``). See ``sender.py``
for the delivery guarantees, ``settings.py`` for the configuration.

Django is optional: add ``"document_exceptions.app"`` to ``INSTALLED_APPS`` to validate the
configuration at start-up, and use :class:`DocumentAccessExceptionMixin` on models.
"""

from document_exceptions.app.api import (
    configure,
    current_settings,
    drain_spool,
    flush,
    parked_reports,
    replay_parked,
    send_document_access_exception,
    shutdown,
    stats,
)
from document_exceptions.app.decorator import kafka_exception_handler
from document_exceptions.app.django import DocumentAccessExceptionMixin
from document_exceptions.app.document_orders_service import (
    DocumentOrdersClientError,
    DocumentOrdersError,
    DocumentOrdersService,
    DocumentOrdersUnavailableError,
    document_orders_service,
)
from document_exceptions.app.sender import FlushResult
from document_exceptions.app.settings import AppSettings
from document_exceptions.connection import ConfigurationError
from document_exceptions.contract import ValidationError

__all__ = [
    "AppSettings",
    "ConfigurationError",
    "DocumentAccessExceptionMixin",
    "DocumentOrdersClientError",
    "DocumentOrdersError",
    "DocumentOrdersService",
    "DocumentOrdersUnavailableError",
    "FlushResult",
    "ValidationError",
    "configure",
    "current_settings",
    "document_orders_service",
    "drain_spool",
    "flush",
    "kafka_exception_handler",
    "parked_reports",
    "replay_parked",
    "send_document_access_exception",
    "shutdown",
    "stats",
]
