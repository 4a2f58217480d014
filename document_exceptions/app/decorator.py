"""`@kafka_exception_handler('document_download_error')`: report an exception, re-raise it.

The wrapped function's exception is always re-raised unchanged (the same object, with its
traceback), whatever happens while reporting it: reporting problems are logged and counted
(``stats()["report_failures"]``), never raised in its place.

What the message carries:

- ``exception_type``: the decorator's argument; ``error_message``: ``str(exc)`` (the class
  name when that is empty or fails); ``stack_trace``: the formatted traceback;
- the fields pass through ``report_fields.normalize_report_fields``, as the model mixin's do:
  an unusable IP is dropped, no user is reported as ``"anonymous"``;
- ``order_req_id``, ``s3_key``, ``user_id``, ``file_name``, ``session_id``, ``access_type``,
  ``ip_address``, ``user_agent``: the call's arguments of those names, where present;
- for Django views (an argument named ``request``, or ``self.request`` in a class-based view):
  ``user_id`` from ``request.user`` (``"anonymous"`` when not logged in), ``ip_address`` from
  ``REMOTE_ADDR``, ``user_agent`` from ``User-Agent``, ``session_id`` from the session. A
  class-based view's method can be decorated directly or with Django's ``method_decorator``;
- ``http_status_code``: Django's ``Http404`` (404), ``PermissionDenied`` (403),
  ``SuspiciousOperation``/``BadRequest`` (400), or an integer ``status_code`` on the
  exception; otherwise the contract's default for the exception type;
- any fixed fields given to the decorator (``access_type='download'``, ...);
- ``additional_context``: the exception's class and the function's qualified name.

An exception is reported once: when nested decorated functions see it, by the innermost;
and not at all when it was raised from (``raise ... from``, or while handling) an exception
already reported by the decorator or the model mixin, as in the guide's
``except PermissionError: order.handle_document_access_exception(...); raise``. Reported
exceptions get a ``_document_exceptions_reported`` attribute.

Functions that cannot supply ``order_req_id``, ``s3_key`` or ``user_id`` (no parameter of
that name, no fixed value, no ``**kwargs``, not a view) are refused at decoration time.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import re
import traceback
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from document_exceptions.app import api
from document_exceptions.app.report_fields import error_message, normalize_report_fields
from document_exceptions.app.report_fields import user_id as reported_user_id
from document_exceptions.contract import (
    EXCEPTION_TYPE_MAX_CHARS,
    EXCEPTION_TYPE_PATTERN,
    FIELDS,
    REQUIRED_FIELDS,
    FieldError,
    ValidationError,
)

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

ARGUMENT_FIELDS = (
    "order_req_id",
    "s3_key",
    "user_id",
    "file_name",
    "session_id",
    "access_type",
    "ip_address",
    "user_agent",
)
MAX_CHAIN = 20  # exceptions followed through __cause__ / __context__
REPORTED_MARKER = "_document_exceptions_reported"
DJANGO_STATUS_BY_EXCEPTION = {
    "django.http.response.Http404": 404,
    "django.core.exceptions.PermissionDenied": 403,
    "django.core.exceptions.SuspiciousOperation": 400,
    "django.core.exceptions.BadRequest": 400,
}
_EXCEPTION_TYPE_RE = re.compile(EXCEPTION_TYPE_PATTERN)


def kafka_exception_handler(exception_type: str, **fixed_fields: Any) -> Callable[[F], F]:
    """Decorate a function or Django view so its exceptions are reported, then re-raised."""
    _check_decorator_arguments(exception_type, fixed_fields)

    def decorate(function: F) -> F:
        signature = call_signature(function)
        _check_fields_available(function, signature, fixed_fields)

        def report(args: tuple[Any, ...], kwargs: dict[str, Any], exc: Exception) -> None:
            try:
                if already_reported(exc):
                    return
                fields = exception_fields(signature, args, kwargs, exc, function)
                fields.update(fixed_fields)
                fields["exception_type"] = exception_type
                api.report(normalize_report_fields(fields, exc))
                mark_reported(exc)  # queued or parked
            except Exception:
                api.count("report_failures")
                logger.exception(
                    "could not report %s from %s (the exception is re-raised as it was)",
                    type(exc).__name__,
                    function.__qualname__,
                )

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await function(*args, **kwargs)
                except Exception as exc:
                    report(args, kwargs, exc)
                    raise

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                report(args, kwargs, exc)
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


def call_signature(function: Callable[..., Any]) -> inspect.Signature:
    """The parameters a call of ``function`` binds to.

    Like :func:`inspect.signature`, except that a ``functools.partial`` in the
    ``__wrapped__`` chain is not looked through. Django's ``method_decorator`` hands the
    decorator ``wraps(method)(partial(bound method))``: its calls bind ``(request, ...)``,
    while the unwrapped method's signature starts with ``self``.
    """
    current: Any = function
    for _ in range(MAX_CHAIN):
        if isinstance(current, functools.partial):
            unwrapped = functools.partial(current.func, *current.args, **current.keywords)
            return inspect.signature(unwrapped)
        if (
            hasattr(current, "__signature__")
            or isinstance(current, types.MethodType)
            or not hasattr(current, "__wrapped__")
        ):
            break
        current = current.__wrapped__
    return inspect.signature(function)


def mark_reported(exc: BaseException) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, REPORTED_MARKER, True)


def already_reported(exc: BaseException | None) -> bool:
    """True if ``exc`` or an exception it was raised from / while handling was reported."""
    seen = 0
    while exc is not None and seen < MAX_CHAIN:
        if getattr(exc, REPORTED_MARKER, False):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _check_decorator_arguments(exception_type: Any, fixed_fields: Mapping[str, Any]) -> None:
    errors = []
    if (
        not isinstance(exception_type, str)
        or len(exception_type) > EXCEPTION_TYPE_MAX_CHARS
        or not _EXCEPTION_TYPE_RE.match(exception_type)
    ):
        errors.append(
            FieldError(
                "exception_type",
                f"{exception_type!r} is not a lower snake_case identifier of at most "
                f"{EXCEPTION_TYPE_MAX_CHARS} characters",
            )
        )
    for name in sorted(set(fixed_fields) - set(FIELDS)):
        errors.append(FieldError(name, "unknown field"))
    for name in sorted({"exception_type", "error_message", "stack_trace"} & set(fixed_fields)):
        errors.append(FieldError(name, "is taken from the exception; cannot be fixed"))
    if errors:
        raise ValidationError(errors)


def _check_fields_available(
    function: Callable[..., Any], signature: inspect.Signature, fixed: Mapping[str, Any]
) -> None:
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    is_view = "request" in parameters
    missing = [
        name
        for name in REQUIRED_FIELDS
        if name not in ("exception_type", "error_message")
        and name not in parameters
        and name not in fixed
        and not (is_view and name == "user_id")
    ]
    if missing:
        raise ValidationError(
            [
                FieldError(
                    name,
                    f"{function.__qualname__} has no parameter of this name: pass "
                    f"{name}=... to the decorator or add the parameter",
                )
                for name in missing
            ]
        )


def exception_fields(
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: BaseException,
    function: Callable[..., Any],
) -> dict[str, Any]:
    """The message fields one failed call supplies (see the module docstring)."""
    arguments = _arguments(signature, args, kwargs)
    fields: dict[str, Any] = {}
    request = arguments.get("request")
    if request is None and hasattr(arguments.get("self"), "request"):
        request = arguments["self"].request
    if request is not None and hasattr(request, "META"):
        fields.update(request_fields(request))
    for name in ARGUMENT_FIELDS:
        value = arguments.get(name)
        if value is not None:
            fields[name] = value
    fields["error_message"] = error_message(exc)
    fields["stack_trace"] = "".join(traceback.format_exception(exc))
    status = http_status_for(exc)
    if status is not None:
        fields["http_status_code"] = status
    fields["additional_context"] = {
        "exception_class": _qualified_name(type(exc)),
        "function": f"{function.__module__}.{function.__qualname__}",
    }
    return fields


def request_fields(request: Any) -> dict[str, Any]:
    """What a Django request says about who made it (no Django import needed)."""
    fields: dict[str, Any] = {}
    user = getattr(request, "user", None)
    if user is not None:
        fields["user_id"] = reported_user_id(user)
    meta = getattr(request, "META", {}) or {}
    if meta.get("REMOTE_ADDR"):
        fields["ip_address"] = meta["REMOTE_ADDR"]  # normalize_report_fields drops a non-IP
    if meta.get("HTTP_USER_AGENT"):
        fields["user_agent"] = meta["HTTP_USER_AGENT"]
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if session_key:
        fields["session_id"] = session_key
    return fields


def http_status_for(exc: BaseException) -> int | None:
    """The HTTP status an exception stands for, when it says so."""
    for cls in type(exc).__mro__:
        status = DJANGO_STATUS_BY_EXCEPTION.get(_qualified_name(cls))
        if status is not None:
            return status
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return status
    return None


def _arguments(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:  # the call itself was wrong; use what can be named
        return dict(kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(arguments.pop(parameter.name, {}) or {})
    return arguments


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
