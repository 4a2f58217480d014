"""api.send_document_access_exception on fields the contract refuses: strict or parked.

The seed calls it from its own ``except`` blocks, where a ``ValidationError`` would replace
the exception being handled. In production (``DOCUMENT_EXCEPTIONS_STRICT`` off) the report
is parked in the spool with its reasons, listed by ``parked_reports`` and replayed by
``replay_parked``; strict mode raises, and ``auto`` is strict under tests and Django
``DEBUG``. Against the real local broker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from document_exceptions.app import ValidationError, api
from document_exceptions.app.settings import STRICT, AppSettings, load_settings
from document_exceptions.connection import ConfigurationError
from tests.app_helpers import configure_app, message_fields

__all__ = ["configure_app"]  # a fixture

ROOT = Path(__file__).resolve().parent.parent


class UploadError(Exception):
    """The caller's own exception, which must reach its caller unchanged."""


def handle_upload_failure(**fields: Any) -> None:
    """The seed's pattern: report from the ``except`` block, then re-raise."""
    try:
        raise UploadError("S3 refused the upload")
    except UploadError:
        api.send_document_access_exception(**fields)
        raise


@pytest.mark.timeout(30)
def test_in_production_an_invalid_report_is_parked_and_the_callers_exception_propagates(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    topic = kafka_broker.create_topic(fresh_topic())
    configure_app(kafka_broker.bootstrap, topic, **{STRICT: "false"})
    order = f"SB-{uuid.uuid4().hex[:8]}"
    with pytest.raises(UploadError, match="S3 refused the upload") as raised:
        handle_upload_failure(**message_fields(order, 1, user_id=None, ip_address="unix:"))
    assert raised.value.__context__ is None  # not raised while handling anything of ours
    stats = api.stats()
    assert (stats["validation_errors"], stats["parked_reports"], stats["submitted"]) == (1, 1, 0)
    [parked] = api.parked_reports()
    assert parked.origin == "report"
    assert [reason["field"] for reason in parked.reasons] == ["user_id", "ip_address"]
    assert parked.fields is not None
    assert parked.fields["order_req_id"] == f"{order}-1"

    # Replayed as it is, it is still refused (and stays, with its reasons).
    unchanged = api.replay_parked()
    assert unchanged.replayed == []
    assert list(unchanged.still_parked) == [parked.row_id]
    assert len(api.parked_reports()) == 1
    # Repaired by the operator, it reaches the topic and leaves the parked table.
    repaired = api.replay_parked(lambda f: {**f, "user_id": "anonymous", "ip_address": None})
    assert repaired.replayed == [parked.row_id]
    [record] = kafka_broker.read_all(topic, expected=1, timeout=5)
    message = json.loads(record.value)
    assert (message["order_req_id"], message["user_id"]) == (f"{order}-1", "anonymous")
    assert api.parked_reports() == []


@pytest.mark.timeout(30)
def test_values_json_cannot_hold_are_parked_as_descriptions_and_stay_parked(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    configure_app(kafka_broker.bootstrap, fresh_topic(), **{STRICT: "false"})

    class User:
        def __repr__(self) -> str:
            return "<User: bob>"

    api.send_document_access_exception(**message_fields("x", 1, user_id=User()))
    [parked] = api.parked_reports()
    assert parked.fields is not None
    assert parked.fields["user_id"] == {"unserializable": "User", "repr": "<User: bob>"}
    assert api.replay_parked().replayed == []  # a description is no user id


@pytest.mark.timeout(30)
def test_strict_mode_raises_naming_each_field_and_parks_nothing(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., AppSettings]
) -> None:
    configure_app(kafka_broker.bootstrap, fresh_topic(), **{STRICT: "true"})
    with pytest.raises(ValidationError) as raised:
        handle_upload_failure(**message_fields("x", 1, user_id=None))
    assert raised.value.fields == ("user_id",)
    assert api.parked_reports() == []


@pytest.mark.timeout(30)
def test_auto_is_strict_under_pytest_and_parks_outside_it(
    kafka_broker: Any,
    fresh_topic: Callable[..., str],
    configure_app: Callable[..., AppSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = configure_app(kafka_broker.bootstrap, fresh_topic())
    assert settings.strict is None
    with pytest.raises(ValidationError):
        api.send_document_access_exception(**message_fields("x", 1, s3_key=""))
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    api.send_document_access_exception(**message_fields("x", 2, s3_key=""))
    assert [entry.fields["order_req_id"] for entry in api.parked_reports() if entry.fields] == [
        "x-2"
    ]


DJANGO_DEBUG_PROBE = textwrap.dedent(
    """
    import json, sys
    import django
    from django.conf import settings
    settings.configure(DEBUG=True)
    django.setup()
    from document_exceptions.app import ValidationError, api
    api.configure(json.loads(sys.argv[1]), environ={})
    from django.test.utils import setup_test_environment

    def attempt():
        try:
            api.send_document_access_exception(order_req_id="SB1", s3_key="", user_id="u",
                                               exception_type="access_denied", error_message="m")
            return "parked"
        except ValidationError as exc:
            return "raised " + ",".join(exc.fields)

    outcome = {}
    for debug in (True, False):
        settings.DEBUG = debug
        outcome[str(debug)] = attempt()
    setup_test_environment()  # Django's test runner (it sets DEBUG False itself)
    outcome["test runner"] = attempt()
    outcome["parked"] = len(api.parked_reports())
    print(json.dumps(outcome))
    """
)


@pytest.mark.timeout(60)
def test_auto_is_strict_under_django_debug_and_its_test_runner(
    kafka_broker: Any, tmp_path: Path
) -> None:
    """A real Django (settings.configure in a child process, outside pytest's variable)."""
    overrides = {
        "KAFKA_BOOTSTRAP_SERVERS": json.dumps([kafka_broker.bootstrap]),
        "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path / "spool"),
    }
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", DJANGO_DEBUG_PROBE, json.dumps(overrides)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        "True": "raised s3_key",
        "False": "parked",
        "test runner": "raised s3_key",
        "parked": 1,
    }


@pytest.mark.parametrize(
    ("value", "strict"),
    [("auto", None), ("TRUE", True), ("false", False), (True, True), (False, False), (None, None)],
)
def test_the_strict_setting_is_read_like_the_others(value: Any, strict: bool | None) -> None:
    overrides = {"KAFKA_BOOTSTRAP_SERVERS": '["127.0.0.1:9092"]', STRICT: value}
    settings = load_settings(overrides, environ={}, django={}, check_spool_dir=False)
    assert settings.strict is strict


def test_a_malformed_strict_setting_fails_at_start_up_naming_it() -> None:
    overrides = {"KAFKA_BOOTSTRAP_SERVERS": '["127.0.0.1:9092"]', STRICT: "sometimes"}
    with pytest.raises(ConfigurationError) as refused:
        load_settings(overrides, environ={}, django={}, check_spool_dir=False)
    assert refused.value.variable == STRICT
