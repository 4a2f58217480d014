"""README.md: what a user copies from it, checked against the code (doc tests).

- "Using it from a Django service": each import line replaces the seed's, name for name, and
  works in a fresh interpreter; the seed's `document_orders_service` call binds to the
  library's; the Django example imports those names from the module the README gives.
- "The decorator: report, then re-raise": the README's decorated function (the seed's) hands
  its exception to the library, then re-raises the same object, and the report reaches the
  real local broker; a failure to report is counted, never raised; a function without the
  ids is refused when decorated, with the error and fields the README names.
- "Environments": the setting for the brokers' existing security groups is spelt as the
  configuration reads it, with the note that the groups are fixed at creation.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from document_exceptions.app import ValidationError, api
from stacks.config import NetworkSettings
from tests.app_helpers import configure_app, messages

__all__ = ["configure_app"]  # a fixture

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLE_VIEWS = ROOT / "examples" / "django_project" / "attachments" / "views.py"
DJANGO_SECTION = "Using it from a Django service"
DECORATOR_SECTION = "The decorator: report, then re-raise"
# The keywords of the seed's `document_orders_service.post_single_document_order(...)` call.
SEED_ORDERS_CALL = (
    "order_req_id",
    "s3_key",
    "file_name",
    "user_id",
    "source",
    "access_type",
    "accessed_at",
    "ip_address",
    "user_agent",
)


def section(title: str) -> str:
    """The README text under the heading `title`, up to the next heading of that level or above
    (lines inside code fences are never headings)."""
    lines = README.read_text(encoding="utf-8").splitlines(keepends=True)
    found: list[str] = []
    level = 0
    in_code = False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        heading = None if in_code else re.match(r"(#+) (.*)\n", line)
        if level and heading and len(heading.group(1)) <= level:
            break
        if level:
            found.append(line)
        elif heading and heading.group(2) == title:
            level = len(heading.group(1))
    assert level, f"README has no section {title!r}"
    return "".join(found)


def python_blocks(title: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", section(title), flags=re.MULTILINE | re.DOTALL)


def import_changes() -> list[tuple[ast.ImportFrom, ast.ImportFrom]]:
    """(the seed's import, the README's replacement) for each `# was:` line."""
    (block,) = [block for block in python_blocks(DJANGO_SECTION) if "# was: " in block]
    lines = block.splitlines()
    changes = []
    for index, line in enumerate(lines):
        if line.startswith("# was: "):
            seed, replacement = (
                ast.parse(text).body[0] for text in (line.removeprefix("# was: "), lines[index + 1])
            )
            assert isinstance(seed, ast.ImportFrom)
            assert isinstance(replacement, ast.ImportFrom)
            changes.append((seed, replacement))
    return changes


def names(node: ast.ImportFrom) -> list[str]:
    return [alias.asname or alias.name for alias in node.names]


def test_each_import_line_keeps_the_seeds_names_and_moves_them_to_the_library():
    changes = import_changes()
    assert {seed.module for seed, _ in changes} == {
        "kafka.exceptions",
        "attachments.document_orders_service",
    }
    for seed, replacement in changes:
        assert names(replacement) == names(seed)
        assert replacement.module == "document_exceptions.app"


def test_the_readme_import_lines_work_in_a_fresh_interpreter(tmp_path):
    lines = [ast.unparse(replacement) for _, replacement in import_changes()]
    probe = "\n".join(
        [
            *lines,
            "import inspect, json",
            "import kafka",
            "from document_exceptions.app import DocumentOrdersService",
            "from document_exceptions.app.document_orders_service import (",
            "    document_orders_service as at_module_path,",
            ")",
            "inspect.signature(document_orders_service.post_single_document_order).bind(",
            f"    **dict.fromkeys({SEED_ORDERS_CALL!r}, 'x')",
            ")",
            "print(json.dumps({",
            "    'service': isinstance(document_orders_service, DocumentOrdersService),",
            "    'one_instance': document_orders_service is at_module_path,",
            "    'helpers': callable(send_document_access_exception)",
            "        and callable(kafka_exception_handler),",
            "    'kafka_is_kafka_python': hasattr(kafka, 'KafkaProducer'),",
            "}))",
        ]
    )
    # A fresh interpreter outside the repository: only the installed package is importable.
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "service": True,
        "one_instance": True,
        "helpers": True,
        "kafka_is_kafka_python": True,
    }


def test_the_readme_names_every_keyword_of_the_seeds_orders_call():
    text = " ".join(section(DJANGO_SECTION).split())
    call = re.search(r"`document_orders_service\.post_single_document_order\(([^`]*)\)`", text)
    assert call, "README shows the seed's post_single_document_order call"
    assert tuple(re.findall(r"(\w+)=\.\.\.", call.group(1))) == SEED_ORDERS_CALL


def test_the_django_example_imports_them_as_the_readme_says():
    readme_module = {
        name: replacement.module
        for _, replacement in import_changes()
        for name in names(replacement)
    }
    example_module = {
        alias.asname or alias.name: node.module
        for node in ast.parse(EXAMPLE_VIEWS.read_text(encoding="utf-8")).body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    shared = set(readme_module) & set(example_module)
    assert {"document_orders_service", "kafka_exception_handler"} <= shared
    for name in shared:
        assert example_module[name] == readme_module[name], name


# --- the decorator ----------------------------------------------------------------------


def decorator_blocks() -> tuple[str, str]:
    usage, refused = python_blocks(DECORATOR_SECTION)
    return usage, refused


def readme_namespace() -> dict[str, Any]:
    """What the README's import lines bind, as a user's module would have it."""
    namespace: dict[str, Any] = {}
    for _, replacement in import_changes():
        exec(compile(ast.Module([replacement], []), "README.md", "exec"), namespace)  # noqa: S102
    return namespace


def readme_function_raising(failure: BaseException) -> Callable[..., Any]:
    """The README's decorated function, its body (the seed's "might raise") raising `failure`."""
    usage, _ = decorator_blocks()
    tree = ast.parse(usage)
    (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    function.body = ast.parse("raise FAILURE").body
    namespace = {**readme_namespace(), "FAILURE": failure}
    exec(compile(ast.fix_missing_locations(tree), "README.md", "exec"), namespace)  # noqa: S102
    return namespace[function.name]


@pytest.mark.timeout(30)
def test_the_readmes_decorated_function_re_raises_the_original_after_reporting(
    kafka_broker: Any, fresh_topic: Callable[..., str], configure_app: Callable[..., Any]
):
    topic = kafka_broker.create_topic(fresh_topic())
    configure_app(kafka_broker.bootstrap, topic)
    failure = PermissionError("user123 may not read documents/file.pdf")
    download_document = readme_function_raising(failure)

    try:
        download_document("SB1029435", "documents/file.pdf", "user123")
    except PermissionError as exc:
        caught = exc
        submitted_before_the_caller_saw_it = api.stats()["submitted"]
    else:
        pytest.fail("the exception was swallowed")

    assert caught is failure
    frames = traceback.walk_tb(caught.__traceback__)
    assert any(frame.f_code.co_filename == "README.md" for frame, _ in frames)
    assert submitted_before_the_caller_saw_it == 1
    assert api.flush(10).pending == 0
    (message,) = messages(kafka_broker.read_all(topic, expected=1, timeout=5))
    assert {name: message[name] for name in ("order_req_id", "s3_key", "user_id")} == {
        "order_req_id": "SB1029435",
        "s3_key": "documents/file.pdf",
        "user_id": "user123",
    }
    assert message["exception_type"] == "document_download_error"
    assert message["error_message"] == str(failure)
    assert "PermissionError" in message["stack_trace"]


def test_a_failure_to_report_is_counted_and_never_raised(monkeypatch: pytest.MonkeyPatch):
    assert '`stats()["report_failures"]`' in section(DECORATOR_SECTION)

    def broken_sender() -> None:
        raise RuntimeError("reporting failed")

    monkeypatch.setattr(api, "get_sender", broken_sender)  # what send and report go through
    before = api.stats().get("report_failures", 0)
    failure = FileNotFoundError("documents/file.pdf")
    with pytest.raises(FileNotFoundError) as caught:
        readme_function_raising(failure)("SB1029435", "documents/file.pdf", "user123")
    assert caught.value is failure
    assert api.stats()["report_failures"] == before + 1


def test_a_function_without_the_ids_is_refused_when_decorated_as_the_readme_says():
    _, refused = decorator_blocks()
    claim = re.search(r"# refused: (\w+) naming ([\w, ]+)$", refused, flags=re.MULTILINE)
    assert claim, "the README's refused example says what is raised"
    error_name, fields = claim.group(1), claim.group(2).split(", ")

    with pytest.raises(Exception) as caught:  # noqa: PT011 - the README names the class
        exec(compile(refused, "README.md", "exec"), readme_namespace())  # noqa: S102

    assert type(caught.value).__name__ == error_name
    assert isinstance(caught.value, ValidationError)
    assert list(caught.value.fields) == fields


@pytest.mark.parametrize(
    ("source", "fixed"),
    [
        pytest.param("def f(order_req_id, s3_key, user_id): pass", {}, id="parameters"),
        pytest.param("def f(order_req_id, user_id): pass", {"s3_key": "k"}, id="fixed_value"),
        pytest.param("def f(**kwargs): pass", {}, id="kwargs"),
        pytest.param("def f(request, order_req_id, s3_key): pass", {}, id="django_view"),
    ],
)
def test_each_way_the_readme_lists_to_supply_the_ids_is_accepted(source, fixed):
    assert "must supply `order_req_id`, `s3_key` and `user_id`" in " ".join(
        section(DECORATOR_SECTION).split()
    )
    namespace = readme_namespace()
    exec(source, namespace)  # noqa: S102
    namespace["kafka_exception_handler"]("document_download_error", **fixed)(namespace["f"])
    with pytest.raises(ValidationError) as caught:
        namespace["kafka_exception_handler"]("document_download_error")(lambda: None)
    assert set(caught.value.fields) == {"order_req_id", "s3_key", "user_id"}


# --- the brokers' security groups -------------------------------------------------------


def test_the_readme_names_the_broker_security_group_setting_as_config_spells_it():
    text = " ".join(section("Environments").split())
    setting = re.search(r"`network\.(\w+)` \(imported VPC only; default `\[\]`\)", text)
    assert setting, "README's Environments section documents the brokers' existing groups"
    field = next(f for f in dataclasses.fields(NetworkSettings) if f.name == setting.group(1))
    assert field.default == ()
    assert "The cluster's security groups are fixed at creation" in text


# --- invalid reports and the local spool ------------------------------------------------

INVALID_REPORTS_SECTION = "Invalid reports and the local spool"


def test_the_strict_setting_and_the_parked_functions_are_named_as_the_code_names_them():
    from document_exceptions.app import settings as app_settings  # noqa: PLC0415

    text = " ".join(section(INVALID_REPORTS_SECTION).split())
    assert f"`{app_settings.STRICT}` (`auto`, `true`, `false`; default `auto`)" in text
    assert tuple(app_settings.STRICT_CHOICES) == ("auto", "true", "false")
    [example] = python_blocks(INVALID_REPORTS_SECTION)
    namespace: dict[str, Any] = {}
    first_line = example.splitlines()[0]
    exec(first_line, namespace)  # noqa: S102 - the README's import line
    assert namespace["parked_reports"] is api.parked_reports
    assert namespace["replay_parked"] is api.replay_parked
    compile(example, "README.md", "exec")
