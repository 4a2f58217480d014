"""Text from outside this program (message bodies, queue messages, errors) made safe to print.

A message on the topic or in a dead-letter queue is written by whoever could send one: its
text may carry terminal control sequences (ESC, BEL, the 8-bit CSI) that clear the
operator's screen or fake output, or bidirectional overrides that reorder what is shown.
Every such character is printed as a visible escape instead.
"""

from __future__ import annotations

# Outside JSON strings only these control characters may appear (as whitespace).
_JSON_WHITESPACE = frozenset("\t\n\r")


def printable(text: str) -> str:
    """``text`` with each non-printable character (``str.isprintable``: controls, format
    characters such as bidirectional overrides, separators other than the space) written
    as its Python escape, ``\\x1b`` for ESC."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def printable_json(text: str) -> str:
    """One JSON document on one line with no non-printable character, and the same value:
    whitespace between tokens becomes a space, any other non-printable character (which
    strict JSON allows only inside strings) its ``\\uXXXX`` escape."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else " " if char in _JSON_WHITESPACE else _json_escape(char)
        for char in text
    )


def _escape(char: str) -> str:
    return repr(char)[1:-1]


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
