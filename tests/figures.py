"""Figures that tests measure (throughput, memory, sizes), shown after the run, not mid-dots.

A test calls ``report_figures(request, name, figures, line)``: the figures go into the test's
``user_properties`` (so ``--junitxml`` keeps them, one property per figure) and ``line``, a
one-line summary, into a "figures" section that pytest prints at the end of the run.
Registered as a plugin in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

SUMMARY_PROPERTY = "figures-summary"
_collected: list[tuple[str, str]] = []


def report_figures(
    request: pytest.FixtureRequest, name: str, figures: Mapping[str, Any], line: str | None = None
) -> None:
    for key, value in figures.items():
        request.node.user_properties.append((f"{name}.{key}", value))
    summary = line or ", ".join(f"{key}={value}" for key, value in figures.items())
    request.node.user_properties.append((SUMMARY_PROPERTY, f"[{name}] {summary}"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _collected.extend(
            (report.nodeid, value)
            for key, value in report.user_properties
            if key == SUMMARY_PROPERTY
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _collected:
        return
    terminalreporter.section("figures")
    for nodeid, line in _collected:
        terminalreporter.write_line(f"{line}  ({nodeid.split('::')[-1]})")
