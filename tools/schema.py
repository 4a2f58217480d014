"""Write or check the message's JSON Schema file shipped for consumers.

`python -m tools.schema --write` after changing a field spec (document_exceptions/fields.py);
`--check` fails when the committed file is stale (a test runs it); `--print` shows it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from document_exceptions.json_schema import SCHEMA_PATH, schema_text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schema", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH.name}")
    action.add_argument("--check", action="store_true", help="fail if the file is stale")
    action.add_argument("--print", action="store_true", help="print the schema")
    parser.add_argument("--path", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    text = schema_text()
    if args.print:
        sys.stdout.write(text)
        return 0
    if args.write:
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_text(text, encoding="utf-8")
        print(f"wrote {args.path}")
        return 0
    current = args.path.read_text(encoding="utf-8") if args.path.is_file() else ""
    if current != text:
        print(f"{args.path} is stale: run python -m tools.schema --write")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
