"""The process-wide API: configure once, send from any thread, flush on shutdown.

One :class:`~document_exceptions.app.sender.BackgroundSender` per process, created at the
first send. Call :func:`configure` at start-up (the Django app config does it in ``ready()``)
so configuration errors stop the process then; without it the first send reads the
configuration and raises any ``ConfigurationError`` there.

After ``fork`` (gunicorn, uWSGI, multiprocessing) the child keeps the validated settings but
gets a new sender (its own producer, delivery thread and spool connection) at its first send;
records buffered in the parent stay the parent's.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from document_exceptions.app.document_orders_service import document_orders_service
from document_exceptions.app.sender import (
    BackgroundSender,
    FlushResult,
    SenderClosedError,
    TransportFactory,
    default_transport_factory,
)
from document_exceptions.app.settings import AppSettings, django_debug, load_settings
from document_exceptions.app.spool import ORIGIN_REPORT, ParkedEntry
from document_exceptions.contract import FieldError, ValidationError, parse_message, prepare_record


class _ProcessState:
    """This process's settings and sender (reset in a forked child)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: AppSettings | None = None
        self.sender: BackgroundSender | None = None
        self.transport_factory: TransportFactory = default_transport_factory
        self.uncounted: dict[str, int] = {}

    def own_sender(self) -> BackgroundSender | None:
        sender = self.sender
        return sender if sender is not None and sender.pid == os.getpid() else None

    def after_fork_in_child(self) -> None:
        self.lock = threading.Lock()
        self.sender = None


_state = _ProcessState()
os.register_at_fork(after_in_child=_state.after_fork_in_child)


def configure(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    django: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    transport_factory: TransportFactory | None = None,
) -> AppSettings:
    """Read and validate the settings (see ``settings.py``) and use them from now on.

    Raises ``ConfigurationError`` naming the variable. A sender already running is flushed
    and closed first (its pending records are delivered or spooled).
    """
    settings = load_settings(overrides, environ, django, config_file)
    with _state.lock:
        previous, _state.sender = _state.own_sender(), None
        _state.settings = settings
        _state.uncounted.clear()
        _state.transport_factory = transport_factory or default_transport_factory
    if previous is not None:
        previous.close(settings.exit_timeout)
    document_orders_service.configure(settings.orders_api)
    return settings


def configure_if_needed() -> AppSettings:
    """Configure from the environment / Django / config.json unless already configured."""
    with _state.lock:
        settings = _state.settings
    return settings if settings is not None else configure()


def current_settings() -> AppSettings | None:
    return _state.settings


def get_sender() -> BackgroundSender:
    """This process's sender, created on first use (and again in a forked child)."""
    sender = _state.own_sender()
    if sender is not None:
        return sender
    settings = configure_if_needed()
    with _state.lock:
        sender = _state.own_sender()
        if sender is None:
            sender = _state.sender = BackgroundSender(settings, _state.transport_factory)
        return sender


def send_document_access_exception(**fields: Any) -> None:
    """Queue one document-access exception message; returns at once.

    Takes the contract's fields as keyword arguments (``order_req_id``, ``s3_key``,
    ``user_id``, ``exception_type`` and ``error_message`` are required; ``ip_address``,
    ``session_id``, ``user_agent``, ``access_type``, ``file_name``, ``http_status_code``,
    ``stack_trace``, ``additional_context``... are optional).

    Fields the contract refuses are the caller's bug, but the guide calls this from its own
    ``except`` blocks, where raising would replace the exception being handled. So in
    production the report is *parked* (logged, counted as ``parked_reports``, kept in the
    spool with the contract's reasons; see :func:`parked_reports` and :func:`replay_parked`)
    and the call returns; in strict mode (``DOCUMENT_EXCEPTIONS_STRICT``, by default on under
    tests and Django ``DEBUG``: :func:`strict_mode`) it raises ``ValidationError`` naming
    each bad field. Never raises because of the broker or the spool: delivery happens in the
    background, failures are spooled and replayed.
    """
    _submit(fields, strict=None)


def report(fields: Mapping[str, Any]) -> bool:
    """The decorator's and model mixin's way in: queue, or park what the contract refuses.

    True when queued, False when parked; never raises ``ValidationError``.
    """
    return _submit(fields, strict=False)


def strict_mode(settings: AppSettings) -> bool:
    """Whether refused fields raise: the setting, or (auto) under tests and Django DEBUG.

    Tests: pytest's ``PYTEST_CURRENT_TEST`` variable, or Django's test runner (which gives
    ``django.core.mail`` its ``outbox``). Looked up only when a report is refused.
    """
    if settings.strict is not None:
        return settings.strict
    if os.environ.get("PYTEST_CURRENT_TEST"):
        return True
    mail = sys.modules.get("django.core.mail")
    if mail is not None and hasattr(mail, "outbox"):
        return True
    return django_debug()


def _submit(fields: Mapping[str, Any], *, strict: bool | None) -> bool:
    sender = get_sender()
    try:
        prepared = prepare_record(fields, sender.settings.contract)
    except ValidationError as exc:
        sender.count("validation_errors")
        if strict if strict is not None else strict_mode(sender.settings):
            raise
        sender.park_report(fields, exc)
        return False
    # Only the record is kept: the message dict would be garbage-collector work for as long
    # as the record waits (measured: it lengthens the tail of send latency).
    record = prepared.record
    try:
        sender.submit(record)
    except SenderClosedError:  # reconfigured concurrently: the new sender takes it
        get_sender().submit(record)
    return True


def parked_reports() -> list[ParkedEntry]:
    """What is parked in this process's spool, oldest first, with the reasons.

    Reports the contract refused outside strict mode (``origin="report"``, the fields as
    given) and spool rows that failed the check on replay (``origin="spool"``, the row).
    """
    return get_sender().spool.parked()


@dataclass(frozen=True)
class ParkedReplay:
    """The outcome of :func:`replay_parked`: ids queued again, and ids still refused (why)."""

    replayed: list[int]
    still_parked: dict[int, list[str]]
    flushed: FlushResult | None = None


def replay_parked(
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    *,
    row_ids: Iterable[int] | None = None,
    timeout: float = 10.0,
) -> ParkedReplay:
    """Check parked entries against the contract again and send those that pass.

    An operator's command (``python manage.py shell -c "from document_exceptions.app import
    replay_parked; print(replay_parked())"``). Each entry's fields (a parked spool row: its
    message) go through ``transform`` first, if given (to repair a field, e.g.
    ``lambda f: {**f, "user_id": f["user_id"] or "anonymous"}``), then through the contract,
    which makes the record's key and headers afresh. What passes is queued and removed from
    the parked table; what does not stays, with the new reasons. Then flushes (``timeout``).
    """
    sender = get_sender()
    wanted = set(row_ids) if row_ids is not None else None
    replayed: list[int] = []
    still: dict[int, list[str]] = {}
    for entry in sender.spool.parked():
        if wanted is not None and entry.row_id not in wanted:
            continue
        try:
            fields = _parked_fields(entry)
            if transform is not None:
                fields = transform(dict(fields))
            prepared = prepare_record(fields, sender.settings.contract)
        except ValidationError as exc:
            sender.spool.unpark(entry.row_id, exc.errors)
            still[entry.row_id] = [str(error) for error in exc.errors]
            continue
        sender.submit(prepared.record)
        sender.spool.unpark(entry.row_id)
        replayed.append(entry.row_id)
    flushed = sender.flush(timeout) if replayed else None
    return ParkedReplay(replayed, still, flushed)


def _parked_fields(entry: ParkedEntry) -> dict[str, Any]:
    if entry.origin == ORIGIN_REPORT and entry.fields is not None:
        return entry.fields
    value = entry.record[1] if entry.record is not None else None
    message = parse_message(value) if isinstance(value, bytes) else None
    if not isinstance(message, dict):
        raise ValidationError([FieldError("message", "the parked row holds no JSON object")])
    return message


def flush(timeout: float = 10.0) -> FlushResult:
    """Deliver what is pending within ``timeout`` seconds; spool the rest."""
    sender = _state.own_sender()
    if sender is None:
        return FlushResult(delivered=0, spooled=0, pending=0)
    return sender.flush(timeout)


def shutdown(timeout: float | None = None) -> FlushResult | None:
    """Flush, then stop the sender (the exit hook does this at interpreter exit)."""
    with _state.lock:
        sender, _state.sender = _state.own_sender(), None
    if sender is None:
        return None
    return sender.close(timeout)


def stats() -> dict[str, Any]:
    """Counters and state of this process's sender (see ``sender.COUNTERS``)."""
    sender = _state.own_sender()
    with _state.lock:
        orphans = dict(_state.uncounted)
    if sender is None:
        return orphans
    snapshot = sender.stats()
    for name, value in orphans.items():
        snapshot[name] = snapshot.get(name, 0) + value
    return snapshot


def drain_spool(timeout: float = 30.0) -> bool:
    """Wait until this process has replayed the spool (True) or ``timeout`` passed (False).

    For operators and tests; applications never need it, replay runs in the background.
    """
    return get_sender().wait_for_spool(timeout)


def count(counter: str) -> None:
    """Count a reporting problem of the decorator or mixin (never raises)."""
    sender = _state.own_sender()
    if sender is not None:
        sender.count(counter)
    else:
        with _state.lock:
            _state.uncounted[counter] = _state.uncounted.get(counter, 0) + 1
