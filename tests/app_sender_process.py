"""A separate application process for tests/test_app_sender.py (configured from the environment).

    app_sender_process.py send RUN COUNT           # send, flush(1 s), report, exit
    app_sender_process.py send-and-exit RUN COUNT  # send, exit (the exit hook delivers)
    app_sender_process.py send-and-exit-slow-start RUN COUNT  # same; transport ready 1.5 s late
    app_sender_process.py replay RUN 0             # start, wait for the spool replay

Prints one JSON line with the outcome.
"""

from __future__ import annotations

import json
import sys
import time

from document_exceptions.app import api
from document_exceptions.app.sender import default_transport_factory
from document_exceptions.app.settings import AppSettings
from document_exceptions.app.spool import Spool
from document_exceptions.app.transport import Transport
from tests.ops_helpers import message_fields

SLOW_START_SECONDS = 1.5


def slow_start_transport(settings: AppSettings) -> Transport:
    """The real Kafka transport, ready only after a start as slow as a loaded machine's."""
    time.sleep(SLOW_START_SECONDS)
    return default_transport_factory(settings)


def main(mode: str, run: str, count: int) -> dict[str, object]:
    # The seed's way: from the environment variables.
    slow = mode == "send-and-exit-slow-start"
    settings = api.configure(transport_factory=slow_start_transport if slow else None)
    for index in range(count):
        api.send_document_access_exception(**message_fields(run, index))
    if mode == "send":
        result = api.flush(1.0)
        closed = api.shutdown()
        return {
            "spooled": result.spooled,
            "delivered": result.delivered,
            "pending": result.pending,
            "closed_pending": closed.pending if closed else None,
            "exit_spool_size": Spool(settings.spool_dir).count(),
        }
    if mode in ("send-and-exit", "send-and-exit-slow-start"):
        return {"submitted": api.stats()["submitted"]}
    drained = api.drain_spool(30)
    return {"drained": drained, **api.stats()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
