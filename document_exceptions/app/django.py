"""Django integration: the model mixin and the app config. Django itself is optional.

This module imports nothing from Django, so ``DocumentAccessExceptionMixin`` can be used (and
this package imported) where Django is not installed. The app config lives in
``document_exceptions.app.apps`` and is only imported by Django.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

from document_exceptions.app import api
from document_exceptions.app.decorator import mark_reported
from document_exceptions.app.report_fields import normalize_report_fields

logger = logging.getLogger(__name__)


class DocumentAccessExceptionMixin:
    """Give a model ``handle_document_access_exception(...)``, the guide's way of reporting.

    ``order_req_id`` comes from the model's field named by ``document_exception_order_field``
    (default ``order_req_id``). Meant to be called in an ``except`` block right before
    ``raise``, so it never raises itself. The fields pass through
    ``report_fields.normalize_report_fields``, as the decorator's do, so what a request gives
    is reported: ``ip_address=''`` is dropped, ``user_id=None`` (an anonymous user) is
    reported as ``"anonymous"``, ``error_message=''`` (``str(PermissionError())``) becomes
    the handled exception's class name. A report the contract still refuses is parked in the
    spool with its reasons (``stats()["parked_reports"]``); one that cannot be queued at all
    (a broken configuration) is logged and counted (``stats()["report_failures"]``). Either
    way the method returns False. The traceback of the exception being handled is added as
    ``stack_trace`` unless one is given, and that exception is marked as reported, so a
    ``@kafka_exception_handler`` around the view does not report it (or an exception raised
    from it) a second time.

    Example::

        class OrderRequest(DocumentAccessExceptionMixin, models.Model):
            order_req_id = models.CharField(max_length=64, unique=True)
    """

    document_exception_order_field = "order_req_id"

    def handle_document_access_exception(
        self,
        *,
        s3_key: str,
        user_id: Any,
        exception_type: str,
        error_message: str,
        ip_address: str | None = None,
        user_agent: str | None = None,
        access_type: str | None = None,
        **fields: Any,
    ) -> bool:
        """Queue a document-access exception for this order; True when it was accepted."""
        handled = sys.exc_info()[1]
        try:
            if "stack_trace" not in fields and handled is not None:
                fields["stack_trace"] = "".join(traceback.format_exception(handled))
            fields.update(
                order_req_id=getattr(self, self.document_exception_order_field),
                s3_key=s3_key,
                user_id=user_id,
                exception_type=exception_type,
                error_message=error_message,
                ip_address=ip_address,
                user_agent=user_agent,
                access_type=access_type,
            )
            queued = api.report(normalize_report_fields(fields, handled))
        except Exception:
            api.count("report_failures")
            logger.exception(
                "could not report %s for %s %r",
                exception_type,
                type(self).__name__,
                getattr(self, self.document_exception_order_field, None),
            )
            return False
        if (
            handled is not None
        ):  # queued or parked: @kafka_exception_handler must not report it again
            mark_reported(handled)
        return queued
