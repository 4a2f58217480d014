"""Errors the operator commands report: what went wrong, and what to check."""

from __future__ import annotations


class OpsError(Exception):
    """A command failed; ``hint`` says what to check (printed on its own line)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  check: {self.hint}"
