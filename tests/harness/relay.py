"""A TCP relay in front of Tansu that injects network faults on command.

Kafka clients connect to the address a broker *advertises*, not to the bootstrap address
they were given, so a relay only sees all traffic if Tansu advertises the relay's port.
:class:`RelayedBroker` starts the two in the right order (relay first, then Tansu
advertising the relay's port).

The relay runs an asyncio event loop in one background thread; its fault commands may be
called from any other thread and take effect before they return.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from tests.harness.broker import LOCALHOST, TansuBroker

CHUNK = 65536
COMMAND_TIMEOUT = 10.0


@dataclass(eq=False)
class Link:
    """One client connection through the relay and its upstream connection, if any."""

    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    task: asyncio.Task[None] | None
    upstream_reader: asyncio.StreamReader | None = None
    upstream_writer: asyncio.StreamWriter | None = None
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    blackholed: bool = False
    closed: bool = False

    def close(self) -> None:
        """Abort both sides at once (no TLS close_notify, no FIN handshake)."""
        self.closed = True
        for writer in (self.client_writer, self.upstream_writer):
            if writer is not None:
                writer.transport.abort()
        current = asyncio.current_task()
        for task in (*self.pumps, self.task):
            if task is not None and task is not current:
                task.cancel()


class FaultyRelay:
    """Relay ``127.0.0.1:port`` to ``target_host:target_port``, with faults on command.

    - :meth:`cut` closes every current connection (new ones are accepted as usual);
    - :meth:`refuse` closes every *new* connection as soon as it is accepted;
    - :meth:`blackhole` drops every byte in both directions, on current and new connections
      alike: they stay open but nothing arrives and nothing is answered, as in a network
      partition (a request forwarded just before may have reached Tansu, its answer lost);
    - :meth:`heal` ends ``refuse`` and ``blackhole``; it closes every connection that was
      open during a blackhole (bytes were dropped, so those byte streams are broken).

    A connection is "current" once the relay has accepted it, which can be a moment after
    the client's ``connect()`` returned: exchange a request first if a test depends on it.
    ``accepted`` counts accepted connections; ``bytes_to_target`` and ``bytes_to_client``
    count the bytes relayed each way.

    ``target_port`` may be set after :meth:`start` (connections made before it is set are
    closed). Subclasses may set ``ssl_context`` to terminate TLS and override
    :meth:`open_session` to talk to the client before bytes are relayed.
    """

    ssl_context: ssl.SSLContext | None = None

    def __init__(
        self,
        target_port: int | None = None,
        *,
        listen_port: int = 0,
        target_host: str = LOCALHOST,
        connect_timeout: float = 5.0,
    ) -> None:
        self.target_port = target_port
        self.target_host = target_host
        self.connect_timeout = connect_timeout
        self._listen_port = listen_port
        self.port: int | None = None
        self.accepted = 0
        # Bytes relayed each way (TCP payload), counted on the loop thread.
        self.bytes_to_target = 0
        self.bytes_to_client = 0
        self._refusing = False
        self._blackholed = False
        self._links: set[Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise RuntimeError("relay not started")
        return f"{LOCALHOST}:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._loop is not None

    @property
    def refusing(self) -> bool:
        return self._refusing

    @property
    def blackholed(self) -> bool:
        return self._blackholed

    def start(self) -> Self:
        if self._loop is not None:
            raise RuntimeError("relay already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"{type(self).__name__}-loop", daemon=True
        )
        self._thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
            future.result(COMMAND_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, LOCALHOST, self._listen_port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        """Close every connection open now (both sides, abruptly)."""
        self._call(self._close_links)

    def refuse(self) -> None:
        """Close new connections immediately after accepting them, until :meth:`heal`."""
        self._call(lambda: setattr(self, "_refusing", True))

    def blackhole(self) -> None:
        """Drop all bytes on every connection, current or new, until :meth:`heal`."""

        def apply() -> None:
            self._blackholed = True
            for link in self._links:
                link.blackholed = True

        self._call(apply)

    def heal(self) -> None:
        """Accept and forward normally again; close connections broken by a blackhole."""

        def apply() -> None:
            self._refusing = False
            self._blackholed = False
            for link in list(self._links):
                if link.blackholed:
                    link.close()

        self._call(apply)

    def stop(self) -> None:
        """Close the listener and every connection, then end the loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._server is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(COMMAND_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(COMMAND_TIMEOUT)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None
        self._server = None

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        tasks = [link.task for link in self._links if link.task is not None]
        self._close_links()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _close_links(self) -> None:
        for link in list(self._links):
            link.close()

    def _call(self, function: Callable[[], Any]) -> Any:
        """Run ``function`` on the loop thread and return its result."""
        if self._loop is None:
            raise RuntimeError("relay not started")
        if threading.current_thread() is self._thread:
            return function()
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(function())
            except BaseException as exc:  # handed to the calling thread
                result.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return result.result(COMMAND_TIMEOUT)

    async def read_client(self, link: Link, count: int) -> bytes:
        """Read exactly ``count`` bytes from the client, dropping everything while blackholed.

        For :meth:`open_session` implementations. Raises ``IncompleteReadError`` on EOF.
        """
        while True:
            data = await link.client_reader.readexactly(count)
            if not link.blackholed:
                return data

    async def write_client(self, link: Link, data: bytes) -> None:
        """Send ``data`` to the client unless the connection is blackholed (then drop it)."""
        if not link.blackholed:
            link.client_writer.write(data)
            await link.client_writer.drain()

    async def connect_upstream(self, link: Link) -> None:
        """Open ``link``'s connection to the target (raises ``OSError`` if that fails)."""
        if self.target_port is None:
            raise ConnectionRefusedError("relay has no target port yet")
        link.upstream_reader, link.upstream_writer = await asyncio.wait_for(
            asyncio.open_connection(self.target_host, self.target_port), self.connect_timeout
        )

    async def open_session(self, link: Link) -> bool:
        """Prepare ``link`` for relaying; return False to close it instead.

        The plain relay just connects upstream. Runs after any TLS handshake.
        """
        await self.connect_upstream(link)
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Link(reader, writer, asyncio.current_task(), blackholed=self._blackholed)
        self._links.add(link)
        self.accepted += 1
        try:
            if self._refusing:
                return
            if link.blackholed:
                await self._drain_until_closed(link.client_reader)
                return
            if self.ssl_context is not None:
                await writer.start_tls(self.ssl_context)
            if link.closed:
                return
            if not await self.open_session(link):
                await self._close_gracefully(link.client_writer)
                return
            await self._relay(link)
        except (OSError, EOFError, ssl.SSLError, TimeoutError, ValueError):
            pass  # the client or Tansu went away, or the client sent garbage: just close
        except asyncio.CancelledError:
            if not link.closed:
                raise
        finally:
            link.close()
            self._links.discard(link)

    async def _relay(self, link: Link) -> None:
        assert link.upstream_reader is not None
        assert link.upstream_writer is not None
        link.pumps = [
            asyncio.create_task(self._pump(link, link.client_reader, link.upstream_writer, True)),
            asyncio.create_task(self._pump(link, link.upstream_reader, link.client_writer, False)),
        ]
        await asyncio.wait(link.pumps, return_when=asyncio.FIRST_COMPLETED)
        # One side closed: let bytes already relayed to the other side go out, then close.
        for writer in (link.client_writer, link.upstream_writer):
            await self._close_gracefully(writer)

    async def _pump(
        self,
        link: Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        to_target: bool,
    ) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while data := await reader.read(CHUNK):
                if not link.blackholed:
                    if to_target:
                        self.bytes_to_target += len(data)
                    else:
                        self.bytes_to_client += len(data)
                    writer.write(data)
                    await writer.drain()

    @staticmethod
    async def _close_gracefully(writer: asyncio.StreamWriter) -> None:
        """Close after sending what is buffered (a final error answer must reach the client)."""
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    @staticmethod
    async def _drain_until_closed(reader: asyncio.StreamReader) -> None:
        """Read and drop bytes until EOF: a connection accepted during a blackhole."""
        with contextlib.suppress(OSError, ssl.SSLError):
            while await reader.read(CHUNK):
                pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RelayedBroker:
    """Tansu behind a :class:`FaultyRelay` (or a subclass, such as the SASL_SSL front-end).

    The relay is started first so that Tansu can advertise the relay's port; clients
    bootstrap at :attr:`bootstrap` (the relay) and every later connection also goes through
    the relay. Usable as a context manager; :meth:`stop` stops both.
    """

    def __init__(self, relay: FaultyRelay | None = None) -> None:
        self.relay = relay if relay is not None else FaultyRelay()
        self.broker: TansuBroker | None = None

    @property
    def bootstrap(self) -> str:
        return self.relay.bootstrap

    def start(self) -> Self:
        try:
            self.relay.start()
            self.broker = TansuBroker(advertised_port=self.relay.port).start()
            self.relay.target_port = self.broker.port
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.relay.stop()
        finally:
            if self.broker is not None:
                self.broker.stop()

    def kafka_python_config(self) -> dict[str, Any]:
        """Connection settings for kafka-python clients (``KafkaProducer(**config)``)."""
        return {"bootstrap_servers": [self.bootstrap]}

    def confluent_config(self) -> dict[str, Any]:
        """Connection settings for confluent-kafka (librdkafka) clients."""
        return {"bootstrap.servers": self.bootstrap}

    def create_topic(self, name: str, partitions: int = 3, replication_factor: int = 2) -> str:
        """Create ``name`` with kafka-python's admin client; return the name."""
        admin = KafkaAdminClient(**self.kafka_python_config())
        try:
            admin.create_topics([NewTopic(name, partitions, replication_factor)])
        finally:
            admin.close()
        return name

    def read_all(self, topic: str, timeout: float = 10.0, expected: int | None = None) -> list[Any]:
        """Read every record of every partition of ``topic`` from offset 0 with confluent-kafka.

        Stops when each partition has reported its end, when ``expected`` records were read,
        or after ``timeout`` seconds, whichever is first. Returns
        :class:`tests.harness.relay.Record` objects ordered by partition, then offset.
        """
        return read_all(self.confluent_config(), topic, timeout=timeout, expected=expected)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Record:
    """One record as read back by :func:`read_all`."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp_ms: int


def read_all(
    config: dict[str, Any], topic: str, timeout: float = 10.0, expected: int | None = None
) -> list[Record]:
    """Read ``topic`` from offset 0 on every partition; see :meth:`RelayedBroker.read_all`."""
    consumer = Consumer(
        {
            **config,
            "group.id": "harness-read-all",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout
        metadata = consumer.list_topics(topic, timeout=max(0.1, timeout))
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        at_end: set[int] = set()
        while time.monotonic() < deadline and len(at_end) < len(partitions):
            if expected is not None and len(records) >= expected:
                break
            message = consumer.poll(min(0.2, max(0.0, deadline - time.monotonic())))
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                    continue
                raise RuntimeError(f"reading {topic}: {error}")
            at_end.discard(message.partition())
            records.append(
                Record(
                    topic=topic,
                    partition=message.partition(),
                    offset=message.offset(),
                    key=message.key(),
                    value=message.value(),
                    headers=list(message.headers() or []),
                    timestamp_ms=message.timestamp()[1],
                )
            )
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))
