"""Seeing why a kafka-python client could not bootstrap, and cleaning up after it.

kafka-python reports a failed bootstrap only as a timeout; the reason (refused, unresolved
name, no answer, untrusted certificate, rejected login) exists only in its log records, and
a failed or abandoned bootstrap leaves its I/O thread running. The topic bootstrap's admin
client and the operator commands' clients share these two pieces; each turns the recorded
failures into its own message.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kafka.net.compat import KafkaNetClient

log = logging.getLogger(__name__)


class BootstrapFailures(logging.Handler):
    """Collects the exceptions kafka-python logs while a client bootstraps.

    ``client_id``: only records of that client's threads (or naming it) count, for when
    other clients run in the process. ``fatal`` is set by the first failure ``is_fatal``
    accepts (one waiting cannot heal, e.g. a rejected login). After :meth:`stop`, nothing
    more is collected (what an I/O loop logs while it is being stopped is not a reason).
    """

    def __init__(
        self,
        client_id: str | None = None,
        is_fatal: Callable[[BaseException], bool] | None = None,
    ) -> None:
        super().__init__(logging.WARNING)
        self.client_id = client_id
        self.failures: list[BaseException] = []
        self.fatal = threading.Event()
        self._is_fatal = is_fatal
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def emit(self, record: logging.LogRecord) -> None:
        if self._stopped:
            return
        if self.client_id is not None and not (
            self.client_id in record.threadName or self.client_id in str(record.msg)
        ):
            return
        args = record.args if isinstance(record.args, tuple) else ()
        found = [arg for arg in args if isinstance(arg, BaseException)]
        if record.exc_info and record.exc_info[1] is not None:
            found.append(record.exc_info[1])
        self.failures.extend(found)
        if self._is_fatal is not None and any(self._is_fatal(failure) for failure in found):
            self.fatal.set()

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Listen to kafka-python's warnings and errors meanwhile."""
        kafka_logger = logging.getLogger("kafka")
        previous_level = kafka_logger.level
        if kafka_logger.getEffectiveLevel() > logging.WARNING:
            kafka_logger.setLevel(logging.WARNING)
        kafka_logger.addHandler(self)
        try:
            yield
        finally:
            kafka_logger.removeHandler(self)
            kafka_logger.setLevel(previous_level)


class TrackedNetClients:
    """A ``kafka_client`` factory for kafka-python clients that remembers what it made, so
    the I/O threads of a failed or abandoned bootstrap can be stopped."""

    def __init__(self) -> None:
        self.made: list[KafkaNetClient] = []

    def __call__(self, **configs: Any) -> KafkaNetClient:
        net_client = KafkaNetClient(**configs)
        self.made.append(net_client)
        return net_client

    def stop_all(self) -> None:
        """Stop each I/O thread first (which fails whatever waits on it), then close."""
        for net_client in self.made:
            try:
                net_client._manager._net.stop()  # no public way to stop this thread
            finally:
                try:
                    net_client.close()
                except Exception:  # best effort: the bootstrap has failed already
                    log.debug("closing an abandoned Kafka client failed", exc_info=True)
