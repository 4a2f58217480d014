"""What the demo prints, and where everything else goes.

The screen gets one header line per step, a few indented detail lines and one marker line
per step (`[ok] step N ...`, `[FAILED] step N ...`, `[skipped] step N ...`). The code under
demo logs a lot (Powertools JSON logs, metrics, kafka-python): all of it goes to a log file.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

INDENT = "      "
WIDTH = 100
CONTINUATION = 4


class StepFailedError(Exception):
    """A step found something wrong; the message is the one-line reason shown."""


@dataclass
class StepOutcome:
    number: int
    title: str
    status: str  # ok, failed, skipped, interrupted
    seconds: float = 0.0
    reason: str = ""

    @property
    def marker(self) -> str:
        """The step's marker line (the end-to-end test looks for these)."""
        if self.status == "ok":
            return f"[ok] step {self.number}: {self.title} ({self.seconds:.1f} s)"
        if self.status == "skipped":
            return f"[skipped] step {self.number}: {self.title} ({self.reason})"
        label = "FAILED" if self.status == "failed" else "INTERRUPTED"
        return f"[{label}] step {self.number}: {self.title}: {self.reason}"


class Console:
    """Prints progress to the real stdout; routes every log record to `log_path`."""

    def __init__(self, log_path: Path, total_steps: int, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.total_steps = total_steps
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = log_path.open("w", encoding="utf-8")
        self.outcomes: list[StepOutcome] = []
        self.formatter = _LogFormatter()

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def detail(self, text: str) -> None:
        """Indented lines, wrapped to `WIDTH` columns (continuations indented further)."""
        for part in text.splitlines() or [""]:
            lead = len(part) - len(part.lstrip(" "))
            wrapped = textwrap.wrap(
                part,
                WIDTH - len(INDENT),
                subsequent_indent=" " * (lead + CONTINUATION),
                break_on_hyphens=False,
            )
            for piece in wrapped or [""]:
                self.line(f"{INDENT}{piece}")

    def header(self, number: int, title: str) -> None:
        self.line(f"[{number}/{self.total_steps}] {title}")

    def record(self, outcome: StepOutcome) -> None:
        self.outcomes.append(outcome)
        self.line(f"{INDENT}{outcome.marker}")
        self.log(f"STEP {outcome.marker}")

    def log(self, text: str) -> None:
        """A line in the log file only."""
        self.log_file.write(f"{time.strftime('%H:%M:%S')} demo: {text}\n")
        self.log_file.flush()

    def route_logging(self) -> None:
        """Send log records to the log file: the root logger, and every stream handler that
        writes to the terminal (Powertools' loggers bring their own, bound to stdout)."""
        root = logging.getLogger()
        if not any(getattr(h, "_demo", False) for h in root.handlers):
            handler = logging.StreamHandler(self.log_file)
            handler._demo = True  # type: ignore[attr-defined]
            handler.setFormatter(self.formatter)
            root.addHandler(handler)
            root.setLevel(logging.INFO)
        terminal = {sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__, self.out}
        loggers = [root, *logging.Logger.manager.loggerDict.values()]
        for logger in loggers:
            for handler in getattr(logger, "handlers", ()):
                if isinstance(handler, logging.StreamHandler) and handler.stream in terminal:
                    handler.setStream(self.log_file)

    @contextlib.contextmanager
    def expected_failures(self, why: str) -> Iterator[None]:
        """Mark the log records written meanwhile as expected (a deliberate failure), and
        bracket them with lines saying why, so a reader of the log does not chase them."""
        self.log(f"EXPECTED FAILURES BEGIN: {why}; errors logged until the END line are intended")
        self.formatter.expected = True
        try:
            yield
        finally:
            self.formatter.expected = False
            self.log(f"EXPECTED FAILURES END: {why}")

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Send stdout and stderr (metrics, warnings, banners) to the log file meanwhile."""
        with contextlib.redirect_stdout(self.log_file), contextlib.redirect_stderr(self.log_file):
            try:
                yield
            finally:
                self.log_file.flush()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.log_file.close()


class _LogFormatter(logging.Formatter):
    """The demo log's format; while `expected` is set, each line starts with "EXPECTED"."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")
        self.expected = False

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"EXPECTED {text}" if self.expected else text


def table(rows: list[list[str]], headers: list[str]) -> list[str]:
    """Left-aligned columns separated by two spaces, with a rule under the headers."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return lines


def shorten(text: object, limit: int) -> str:
    """`text` cut to `limit` characters at a word boundary, marked with '...'."""
    value = str(text)
    if len(value) <= limit:
        return value
    cut = value[: limit - 3]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut + "..."
