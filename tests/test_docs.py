"""docs/: the message format is generated from the contract; the other pages name real things.

`docs/message-format.md` must be exactly what `docs/message_format.py` renders from
`document_exceptions.contract` now. `docs/operations.md` and `docs/architecture.md` name
alarms, outputs, queues and make targets: each name they use is checked against the
committed template snapshots (which tests/test_snapshots.py keeps equal to a fresh synth)
and the Makefile.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import MappingProxyType, ModuleType

import pytest

from document_exceptions import contract

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
SNAPSHOTS = REPO_ROOT / "tests" / "snapshots"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_message_format", DOCS / "message_format.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


def test_message_format_doc_is_the_generated_one():
    assert (DOCS / "message-format.md").read_text(encoding="utf-8") == generator.render(), (
        "docs/message-format.md is stale: run .venv/bin/python docs/message_format.py --write"
    )


def test_message_format_doc_follows_a_contract_change(monkeypatch):
    changed = dict(contract.HTTP_STATUS_BY_EXCEPTION_TYPE, access_denied=401)
    monkeypatch.setattr(contract, "HTTP_STATUS_BY_EXCEPTION_TYPE", MappingProxyType(changed))

    rendered = generator.render()

    assert "| `access_denied` | User doesn't have permission | 401 |" in rendered
    assert rendered != (DOCS / "message-format.md").read_text(encoding="utf-8")


def test_message_format_doc_lists_every_field_and_common_type():
    text = (DOCS / "message-format.md").read_text(encoding="utf-8")

    for number, name in enumerate(contract.FIELDS, start=1):
        assert f"| {number} | `{name}` |" in text
    for name, status in contract.HTTP_STATUS_BY_EXCEPTION_TYPE.items():
        assert re.search(rf"\| `{name}` \| [^|]+ \| {status} \|", text)


def test_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "message-format.md"
    stale.write_text("# out of date\n", encoding="utf-8")
    monkeypatch.setattr(generator, "OUTPUT", stale)
    monkeypatch.setattr(generator, "REPO_ROOT", tmp_path)

    assert generator.main(["--check"]) == 1
    assert "is stale" in capsys.readouterr().out
    assert generator.main(["--write"]) == 0
    assert generator.main(["--check"]) == 0


def snapshot_templates() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(SNAPSHOTS.glob("*.json"))}


def documented(page: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, (DOCS / page).read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", ["operations.md", "architecture.md"])
def test_outputs_named_in_the_docs_exist_in_every_stack(page):
    templates = snapshot_templates()
    names = documented(page, r"output `([A-Za-z0-9]+)`")

    assert templates
    for stack, template in templates.items():
        outputs = {re.sub(r"[A-F0-9]{8}$", "", key) for key in template.get("Outputs", {})}
        missing = sorted(n for n in names if not any(o.endswith(n) for o in outputs))
        assert not missing, f"{page} names outputs {stack} does not have: {missing}"


def test_alarms_named_in_operations_exist_in_every_stack():
    templates = snapshot_templates()
    names = documented("operations.md", r"alarm `([A-Za-z0-9{}-]+)`")

    assert names
    for stack, template in templates.items():
        alarms = [
            (logical_id, resource.get("Properties", {}).get("AlarmName", ""))
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::CloudWatch::Alarm"
        ]
        for name in names:
            pattern = re.escape(name).replace(r"\{n\}", r"\d+").replace(r"\{cluster\}", ".+")
            assert any(
                re.fullmatch(pattern, alarm_name) or re.search(pattern, logical_id)
                for logical_id, alarm_name in alarms
            ), f"operations.md names alarm {name!r}, which {stack} does not have"


def test_make_targets_named_in_the_docs_exist():
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.MULTILINE))
    for page in ("operations.md", "architecture.md"):
        named = documented(page, r"`make ([a-z-]+)")
        assert named <= targets, f"{page} names make targets that do not exist: {named - targets}"
