"""The one record type, from the contract to the wire.

The contract produces it, the app sender buffers and spools it, the transports and the
publisher send it: key, value and headers exactly as they go to Kafka, nothing else.
"""

from __future__ import annotations

from typing import NamedTuple


class Record(NamedTuple):
    """One Kafka record: key, value bytes and headers (a list, as kafka-python wants).

    A NamedTuple: immutable and the cheapest type to build, once per message.
    """

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
