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


def error_text(exc: BaseException) -> str:
    """What ``exc`` says, for an operator: its message without the class name that
    kafka-python's errors put in front of it (``KafkaTimeoutError: ...``); a broker error
    without a message gives the broker's description of its code."""
    if isinstance(exc, OpsError):
        return exc.message
    text = Exception.__str__(exc) if isinstance(exc, Exception) else str(exc)
    if text:
        return " ".join(text.split())
    description = getattr(exc, "description", None)
    if isinstance(description, str) and description:
        return description
    return "no details given"


class UsageError(OpsError):
    """The command's arguments cannot work together; found before anything is contacted."""
