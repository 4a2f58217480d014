"""`make broker` (python -m demo.playground) started as a user starts it, for end-to-end tests.

The playground runs in its own process on a free port; a thread reads what it prints. The test
reads the export lines it writes, as a user would `source` them, and stops it with Ctrl-C.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
READY = "Running; Ctrl-C stops it."
CLEAN_PREFIXES = ("KAFKA_", "AWS_", "DOCUMENT_EXCEPTIONS_", "DOCUMENT_ORDERS_", "MESSAGE_")


def clean_environment() -> dict[str, str]:
    """The caller's environment without settings the steps must get from the playground."""
    return {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_PREFIXES)}


def read_exports(path: Path) -> dict[str, str]:
    """`export NAME=value` lines, unquoted as the shell would."""
    exports: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            (exports[name],) = shlex.split(value)
    return exports


@dataclass
class Playground:
    process: subprocess.Popen[str]
    env_file: Path
    output: list[str]
    exports: dict[str, str]

    reader: threading.Thread | None = None

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; the exit status (output read to its end)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.reader is not None:
            self.reader.join(5)
        return self.process.returncode


@contextmanager
def running_playground(work: Path, *options: str, timeout: float = 30) -> Iterator[Playground]:
    """`python -m demo.playground --port 0 [options]`, ready; stopped with Ctrl-C after."""
    env_file = work / "broker.env"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "demo.playground",
            "--port",
            "0",
            "--env-file",
            str(env_file),
            *options,
        ],
        cwd=REPO_ROOT,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    playground = Playground(process, env_file, output, {})
    ready = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if line.startswith(READY):
                ready.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    playground.reader = reader
    try:
        if not ready.wait(timeout):
            raise AssertionError("the playground did not start:\n" + "\n".join(output))
        playground.exports = read_exports(env_file)
        yield playground
    finally:
        playground.stop()
