"""Figures of the property tests: written to .pytest-report/ and shown in pytest's terminal
summary (tests/conftest.py), never among the progress dots."""

from __future__ import annotations

from pathlib import Path

REPORT_DIR = Path(__file__).resolve().parent.parent / ".pytest-report"
_lines: list[str] = []


def report(name: str, line: str) -> None:
    """Keep `line` for the terminal summary and write it to .pytest-report/<name>.txt."""
    _lines.append(line)
    REPORT_DIR.mkdir(exist_ok=True)
    with (REPORT_DIR / f"{name}.txt").open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def start(name: str) -> None:
    """Begin a fresh .pytest-report/<name>.txt for this run."""
    (REPORT_DIR / f"{name}.txt").unlink(missing_ok=True)


def summary_lines() -> list[str]:
    return list(_lines)
