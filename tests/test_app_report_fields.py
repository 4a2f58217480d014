"""report_fields.normalize_report_fields: the one normalizer of the decorator and the mixin."""

from __future__ import annotations

from typing import Any

import pytest

from document_exceptions.app.report_fields import ANONYMOUS_USER_ID, normalize_report_fields
from document_exceptions.contract import prepare_record

BASE = {
    "order_req_id": "SB1029435",
    "s3_key": "documents/user123/file.pdf",
    "user_id": 42,
    "exception_type": "access_denied",
    "error_message": "no access",
    "ip_address": "192.168.1.100",
}


class User:
    """What Django's request.user offers the normalizer: is_authenticated and pk."""

    def __init__(self, pk: int | None, authenticated: bool) -> None:
        self.pk = pk
        self.is_authenticated = authenticated


@pytest.mark.parametrize(
    ("given", "exc", "expected"),
    [
        pytest.param({"ip_address": ""}, None, {"ip_address": None}, id="ip_empty"),
        pytest.param({"ip_address": "unix:"}, None, {"ip_address": None}, id="ip_unix_socket"),
        pytest.param(
            {"ip_address": "10.0.0.1, 10.0.0.2"}, None, {"ip_address": None}, id="ip_list"
        ),
        pytest.param({"ip_address": "::1"}, None, {"ip_address": "::1"}, id="ip_v6_kept"),
        pytest.param({"user_id": None}, None, {"user_id": ANONYMOUS_USER_ID}, id="user_none"),
        pytest.param({"user_id": " "}, None, {"user_id": ANONYMOUS_USER_ID}, id="user_blank"),
        pytest.param(
            {"user_id": User(None, False)},
            None,
            {"user_id": ANONYMOUS_USER_ID},
            id="anonymous_user",
        ),
        pytest.param({"user_id": User(7, True)}, None, {"user_id": 7}, id="user_object"),
        pytest.param(
            {"error_message": ""}, PermissionError(), {"error_message": "PermissionError"}, id="msg"
        ),
        pytest.param(
            {"error_message": None}, KeyError("k"), {"error_message": "'k'"}, id="msg_from_exc"
        ),
        pytest.param({"error_message": ""}, None, {"error_message": "access_denied"}, id="no_exc"),
    ],
)
def test_request_shaped_values_become_reportable(
    given: dict[str, Any], exc: BaseException | None, expected: dict[str, Any]
) -> None:
    fields = normalize_report_fields({**BASE, **given}, exc)
    assert {name: fields.get(name) for name in expected} == expected
    prepare_record(fields)  # the contract accepts the result


def test_valid_fields_pass_unchanged_and_the_input_is_not_modified() -> None:
    given = dict(BASE)
    assert normalize_report_fields(given, ValueError("x")) == BASE
    assert given == BASE
