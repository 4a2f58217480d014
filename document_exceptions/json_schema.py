"""The JSON Schema (2020-12) of a message as published, generated from the field specs.

Shipped for consumers as `schema/document-exception.schema.json`; `python -m tools.schema
--write` writes it and a test checks it is current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from document_exceptions.contract import HEADER_SCHEMA_VERSION, SCHEMA_VERSION
from document_exceptions.fields import (
    COMMON_EXCEPTION_TYPES,
    DEFAULT_HTTP_STATUS_CODE,
    FIELD_SPECS,
    FIELDS,
    HTTP_STATUS_BY_EXCEPTION_TYPE,
)

SCHEMA_ID = "urn:document-exceptions:schema:document-exception:1"
SCHEMA_PATH = Path(__file__).parent / "schema" / "document-exception.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a message as published on the topic."""
    properties = {}
    for spec in FIELD_SPECS:
        properties[spec.name] = {"description": spec.description, **spec.schema}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "DocumentAccessException",
        "description": (
            "A document-access exception as published to the DocumentExceptions topic "
            f"(schema version {SCHEMA_VERSION}; record header '{HEADER_SCHEMA_VERSION}'). "
            "Generated from document_exceptions/fields.py; do not edit by hand."
        ),
        "type": "object",
        "properties": properties,
        "required": list(FIELDS),
        "additionalProperties": False,
        "x-http-status-by-exception-type": dict(HTTP_STATUS_BY_EXCEPTION_TYPE),
        "x-default-http-status-code": DEFAULT_HTTP_STATUS_CODE,
        "x-common-exception-types": dict(COMMON_EXCEPTION_TYPES),
    }


def schema_text() -> str:
    """The schema file's exact content."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
