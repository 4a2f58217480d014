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
import threading
from collections.abc import Mapping
from typing import Any

from document_exceptions.app.document_orders_service import document_orders_service
from document_exceptions.app.sender import (
    BackgroundSender,
    FlushResult,
    SenderClosedError,
    TransportFactory,
    default_transport_factory,
)
from document_exceptions.app.settings import AppSettings, load_settings
from document_exceptions.contract import ValidationError, prepare_record


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

    Raises ``ValidationError`` (naming each bad field) synchronously: invalid fields are the
    caller's bug, found here in microseconds rather than lost later. Never raises because of
    the broker: delivery happens in the background, failures are spooled and replayed.
    """
    sender = get_sender()
    try:
        prepared = prepare_record(fields, sender.settings.contract)
    except ValidationError:
        sender.count("validation_errors")
        raise
    # Only the record is kept: the message dict would be garbage-collector work for as long
    # as the record waits (measured: it lengthens the tail of send latency).
    record = prepared.record
    try:
        sender.submit(record)
    except SenderClosedError:  # reconfigured concurrently: the new sender takes it
        get_sender().submit(record)


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
