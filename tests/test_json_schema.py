"""`document_exceptions.json_schema` and `tools.schema`: the schema file shipped for consumers
is generated from the field specs and accepts and refuses what the contract does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from document_exceptions.contract import ValidationError, prepare_record
from document_exceptions.json_schema import SCHEMA_PATH, schema_text
from tests.guide_examples import GUIDE_EXAMPLES, GUIDE_MESSAGE
from tools import schema as schema_tool


def test_the_schema_file_is_generated_from_the_field_specs() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "run: python -m tools.schema --write"
    )
    assert schema_tool.main(["--check"]) == 0


def test_the_schema_tool_writes_the_same_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert schema_tool.main(["--check", "--path", str(target)]) == 1
    assert schema_tool.main(["--write", "--path", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == schema_text()


def test_the_schema_tool_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema_tool.main(["--print"]) == 0
    assert capsys.readouterr().out == schema_text()


def schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("example", sorted(GUIDE_EXAMPLES))
def test_published_messages_satisfy_the_schema(example: str) -> None:
    message = json.loads(prepare_record(GUIDE_EXAMPLES[example]).record.value)
    assert list(schema_validator().iter_errors(message)) == []


@pytest.mark.parametrize(
    "change",
    [
        {"exception_type": "Not Snake"},
        {"http_status_code": 700},
        {"additional_context": []},
        {"user_id": ""},
        {"surprise": 1},
    ],
)
def test_the_schema_rejects_what_the_contract_rejects(change: dict[str, Any]) -> None:
    message = {**GUIDE_MESSAGE, **change}
    assert list(schema_validator().iter_errors(message)) != []
    with pytest.raises(ValidationError):
        prepare_record(message)


def test_the_schema_requires_every_field() -> None:
    message = dict(GUIDE_MESSAGE)
    del message["stack_trace"]
    assert [e.validator for e in schema_validator().iter_errors(message)] == ["required"]
