"""`document_exceptions.settings`: the one reader of environment, Django settings and
config.json; typed getters with one-line errors naming the variable; a config.json that is
not a small regular UTF-8 JSON file is refused, never hangs or fills memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from document_exceptions.settings import (
    CONFIG_FILE_VARIABLE,
    MAX_CONFIG_FILE_BYTES,
    ConfigurationError,
    Settings,
    read_config_file,
    read_settings,
)


def error_of(call, *args, **kwargs) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as raised:
        call(*args, **kwargs)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{raised.value.variable}: ")
    return raised.value


# --- typed getters --------------------------------------------------------------------------


def test_empty_values_are_unset() -> None:
    settings = Settings({"A": "", "B": None, "C": "x"})
    assert settings.names() == ("C",)
    assert settings.text("A") is None
    assert settings.integer("A", 5) == 5
    assert settings.number("B", 1.5) == 1.5
    assert settings.boolean("A", True) is True
    assert settings.choice("B", ("x", "y"), "y") == "y"


def test_text_strips_unless_told_and_takes_paths() -> None:
    settings = Settings({"A": "  a  ", "P": Path("/tmp/x"), "BLANK": "   "})
    assert settings.text("A") == "a"
    assert settings.text("A", strip=False) == "  a  "
    assert settings.text("P") == "/tmp/x"
    assert settings.text("BLANK") is None


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda s: s.text("INT"), "INT: expected a string, got int"),
        (lambda s: s.integer("WORD"), "WORD: 'many' is not a whole number"),
        (lambda s: s.integer("FLOAT"), "FLOAT: '1.5' is not a whole number"),
        (lambda s: s.integer("BOOL"), "BOOL: expected a whole number, got True"),
        (lambda s: s.integer("INT", minimum=10), "INT: 3 is out of range; expected >= 10"),
        (
            lambda s: s.number("FLOAT", 0.0, minimum=2, maximum=3),
            "FLOAT: '1.5' is out of range; expected between 2 and 3",
        ),
        (lambda s: s.number("NAN", 0.0), "NAN: 'nan' is not a finite number"),
        (lambda s: s.number("LIST", 0.0), "LIST: expected a number, got [1]"),
        (lambda s: s.boolean("WORD"), "WORD: 'many' is not true or false"),
        (lambda s: s.choice("WORD", ("one", "two"), None), "WORD: 'many' is not one of one, two"),
    ],
)
def test_malformed_values_are_one_line_naming_the_variable(call, problem: str) -> None:
    settings = Settings(
        {"INT": 3, "WORD": "many", "FLOAT": "1.5", "BOOL": True, "NAN": "nan", "LIST": [1]}
    )
    assert str(error_of(call, settings)) == problem


def test_typed_values() -> None:
    settings = Settings(
        {"I": " 42 ", "J": 7, "F": "0.25", "T": "Yes", "OFF": "off", "B": False, "C": "SSL"}
    )
    assert settings.integer("I") == 42
    assert settings.integer("J") == 7
    assert settings.number("F", 0.0) == 0.25
    assert (settings.boolean("T"), settings.boolean("OFF"), settings.boolean("B")) == (
        True,
        False,
        False,
    )
    assert settings.choice("C", ("SSL", "PLAINTEXT"), None, normalize=str.upper) == "SSL"


# --- merging the sources ------------------------------------------------------------------


def test_overrides_then_environment_then_django_then_config_json(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"A": "file", "B": "file", "C": "file", "D": "file", "Z": "x"}))
    settings = read_settings(
        ("A", "B", "C", "D"),
        overrides={"A": "override"},
        environ={"A": "env", "B": "env", CONFIG_FILE_VARIABLE: str(config)},
        django={"A": "django", "B": "django", "C": "django"},
    )
    assert [settings.raw(name) for name in "ABCD"] == ["override", "env", "django", "file"]
    assert settings.raw("Z") is None  # not a name this reader was asked for


def test_the_config_file_can_be_named_in_django_settings(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"A": "file"}')
    settings = read_settings(("A",), environ={}, django={CONFIG_FILE_VARIABLE: str(config)})
    assert settings.raw("A") == "file"


# --- config.json: only a small, regular, UTF-8 JSON file --------------------------------


def test_a_missing_config_file_names_the_variable(tmp_path: Path) -> None:
    error = error_of(read_config_file, tmp_path / "missing.json")
    assert error.variable == CONFIG_FILE_VARIABLE
    assert "missing.json: config file not found" in str(error)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{", "not valid JSON (Expecting property name enclosed in double quotes, line 1)"),
        (b"[]", "expected a JSON object"),
        (b'{"KAFKA_TOPIC": "caf\xe9"}', "not UTF-8 text (byte 20 cannot be decoded)"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8 text (byte 0 cannot be decoded)"),
    ],
    ids=["broken", "list", "latin-1", "utf-16"],
)
def test_a_config_file_that_is_not_a_utf8_json_object(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(content)
    error = error_of(read_config_file, config)
    assert str(error) == f"{CONFIG_FILE_VARIABLE}: {config}: {problem}"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    error = error_of(read_config_file, tmp_path)
    assert (
        str(error) == f"{CONFIG_FILE_VARIABLE}: {tmp_path}: is a directory, not a regular JSON file"
    )


def test_a_device_is_refused_without_reading_it() -> None:
    # /dev/zero never ends: reading it would fill memory.
    error = error_of(read_config_file, "/dev/zero")
    assert "/dev/zero: is a device, not a regular JSON file" in str(error)


def test_a_file_over_64_kib_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"KAFKA_TOPIC": "x" * MAX_CONFIG_FILE_BYTES}))
    error = error_of(read_config_file, config)
    assert f"more than the {MAX_CONFIG_FILE_BYTES} allowed" in str(error)


def test_a_file_of_exactly_64_kib_is_read(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    padding = MAX_CONFIG_FILE_BYTES - len(json.dumps({"KAFKA_TOPIC": ""}))
    config.write_text(json.dumps({"KAFKA_TOPIC": "x" * padding}))
    assert config.stat().st_size == MAX_CONFIG_FILE_BYTES
    assert len(read_config_file(config)["KAFKA_TOPIC"]) == padding


def test_a_fifo_with_no_writer_is_refused_at_once(tmp_path: Path) -> None:
    """In a child process with a deadline: reading a FIFO that no one writes would block."""
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    script = textwrap.dedent(
        f"""
        from document_exceptions.settings import ConfigurationError, read_config_file
        try:
            read_config_file({str(fifo)!r})
        except ConfigurationError as error:
            print(error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == (
        f"{CONFIG_FILE_VARIABLE}: {fifo}: is a FIFO, not a regular JSON file"
    )


def _config_with_password(tmp_path: Path, mode: int) -> Path:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"KAFKA_SASL_USERNAME": "dev", "KAFKA_SASL_PASSWORD": "pw-123"}))
    config.chmod(mode)
    return config


@pytest.mark.parametrize(
    ("mode", "readers"), [(0o644, "group and others"), (0o640, "group"), (0o604, "others")]
)
def test_a_password_readable_by_group_or_others_gets_a_warning(
    tmp_path: Path, mode: int, readers: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config_with_password(tmp_path, mode)
    with caplog.at_level("WARNING", logger="document_exceptions.settings"):
        assert read_config_file(config)["KAFKA_SASL_USERNAME"] == "dev"
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith(f"{CONFIG_FILE_VARIABLE}: {config} holds KAFKA_SASL_PASSWORD")
    assert f"readable by {readers} (mode {mode:o})" in message
    assert "chmod 600" in message
    assert "pw-123" not in message


def test_no_warning_for_a_private_file_or_one_without_a_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private = _config_with_password(tmp_path, 0o600)
    public_without_password = tmp_path / "public.json"
    public_without_password.write_text('{"KAFKA_SASL_PASSWORD": "", "KAFKA_TOPIC": "T"}')
    public_without_password.chmod(0o644)
    with caplog.at_level("WARNING", logger="document_exceptions.settings"):
        read_config_file(private)
        read_config_file(public_without_password)
    assert caplog.records == []
