"""The one settings reader: environment variables, Django settings and `config.json`.

Every setting has one name, used alike as an environment variable, a Django setting and a key
of the development `config.json` (named by `DOCUMENT_EXCEPTIONS_CONFIG_FILE`). `read_settings`
merges the sources per name (environment over Django over `config.json`, with explicit
overrides on top); `Settings` hands the values out through typed getters that raise
`ConfigurationError` with one line naming the variable.

Each user keeps its own rules (which names, defaults, ranges, how values combine) and reads
through this module: the Kafka connection (`connection.from_kafka_settings`), the message
contract (`ContractSettings.from_environment`), the producer
(`ProducerSettings.from_environment`) and the app-side library (`app.settings.load_settings`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

CONFIG_FILE_VARIABLE = "DOCUMENT_EXCEPTIONS_CONFIG_FILE"
# A development config.json holds a few settings; anything larger is not one (or is a device).
MAX_CONFIG_FILE_BYTES = 64 * 1024
# Keys whose value is a secret: a config.json holding one should be private to its user.
SECRET_KEYS = ("KAFKA_SASL_PASSWORD",)
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


def _type_name(value: Any) -> str:
    return type(value).__name__


class Settings:
    """Values by name, read through typed getters; an empty value counts as unset."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        # Not copied: each name is looked up when it is read (`os.environ` included), so only
        # the variables a user asks for are ever read.
        self._values: Mapping[str, Any] = {} if values is None else values

    def raw(self, name: str) -> Any:
        """The value as given (None when unset or empty)."""
        value = self._values.get(name)
        return None if value is None or value == "" else value

    def is_set(self, name: str) -> bool:
        return self.raw(name) is not None

    def names(self) -> tuple[str, ...]:
        return tuple(name for name in self._values if self.is_set(name))

    def text(self, name: str, *, strip: bool = True) -> str | None:
        """A string (paths accepted), None when unset or blank; another type is an error."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ConfigurationError(name, f"expected a string, got {_type_name(value)}")
        return (value.strip() if strip else value) or None

    def choice(
        self,
        name: str,
        choices: Iterable[str],
        default: str | None,
        *,
        normalize: Callable[[str], str] = str.lower,
    ) -> str | None:
        """One of `choices` (compared after `normalize`), `default` when unset."""
        choices = tuple(choices)
        text = self.text(name)
        if text is None:
            return default
        value = normalize(text)
        if value not in choices:
            raise ConfigurationError(name, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        """A whole number (an int, or text holding one), `default` when unset."""
        raw = self.raw(name)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ConfigurationError(name, f"expected a whole number, got {raw!r}")
        try:
            number = int(raw.strip()) if isinstance(raw, str) else raw
        except ValueError:
            raise ConfigurationError(name, f"{raw!r} is not a whole number") from None
        _check_range(name, raw, number, minimum, maximum)
        return number

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """A finite number (int, float, or text holding one), `default` when unset."""
        raw = self.raw(name)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ConfigurationError(name, f"expected a number, got {raw!r}")
        try:
            number = float(raw)
        except ValueError:
            raise ConfigurationError(name, f"{raw!r} is not a number") from None
        if not math.isfinite(number):
            raise ConfigurationError(name, f"{raw!r} is not a finite number")
        _check_range(name, raw, number, minimum, maximum)
        return number

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        """true/false (also 1/0, yes/no, on/off), `default` when unset."""
        raw = self.raw(name)
        if raw is None:
            return default
        if isinstance(raw, bool):
            return raw
        word = raw.strip().lower() if isinstance(raw, str) else None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ConfigurationError(name, f"{raw!r} is not true or false")


def _check_range(
    name: str, raw: Any, number: float, minimum: float | None, maximum: float | None
) -> None:
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        if maximum is None:
            bounds = f">= {minimum}"
        elif minimum is None:
            bounds = f"<= {maximum}"
        else:
            bounds = f"between {minimum} and {maximum}"
        raise ConfigurationError(name, f"{raw!r} is out of range; expected {bounds}")


def read_config_file(
    path: str | os.PathLike[str], variable: str = CONFIG_FILE_VARIABLE
) -> dict[str, Any]:
    """The development `config.json`: a regular file of at most 64 KiB holding a JSON object.

    Errors name `variable` and the path. A directory, a FIFO or a device is refused before
    anything is read (opened non-blocking, so a FIFO with no writer cannot hang start-up).
    A file holding a password that group or others can read gets a warning.
    """
    shown = os.fspath(path)
    try:
        descriptor = os.open(shown, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigurationError(variable, f"{shown}: config file not found") from None
    except OSError as exc:
        raise ConfigurationError(variable, f"{shown}: cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError(
                variable, f"{shown}: is a {_file_kind(info.st_mode)}, not a regular JSON file"
            )
        if info.st_size > MAX_CONFIG_FILE_BYTES:
            raise ConfigurationError(
                variable,
                f"{shown}: {info.st_size} bytes, more than the {MAX_CONFIG_FILE_BYTES} allowed",
            )
        content = b""
        while len(content) <= MAX_CONFIG_FILE_BYTES:  # the file may grow after fstat
            chunk = os.read(descriptor, MAX_CONFIG_FILE_BYTES + 1 - len(content))
            if not chunk:
                break
            content += chunk
    finally:
        os.close(descriptor)
    if len(content) > MAX_CONFIG_FILE_BYTES:
        raise ConfigurationError(
            variable, f"{shown}: more than the {MAX_CONFIG_FILE_BYTES} bytes allowed"
        )
    try:
        data = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            variable, f"{shown}: not UTF-8 text (byte {exc.start} cannot be decoded)"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            variable, f"{shown}: not valid JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(variable, f"{shown}: expected a JSON object")
    secrets = [key for key in SECRET_KEYS if data.get(key)]
    if secrets and info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning(
            "%s: %s holds %s and is readable by %s (mode %o); make it private: chmod 600 %s",
            variable,
            shown,
            ", ".join(secrets),
            "group and others"
            if info.st_mode & stat.S_IRGRP and info.st_mode & stat.S_IROTH
            else ("group" if info.st_mode & stat.S_IRGRP else "others"),
            stat.S_IMODE(info.st_mode),
            shown,
        )
    return data


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def read_settings(
    names: Iterable[str],
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    django: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """`names` merged from every source: overrides, environment, Django settings, config.json.

    The config file is `config_file`, else the first `DOCUMENT_EXCEPTIONS_CONFIG_FILE` among
    overrides, environment and Django settings; none is read when none is named.
    """
    names = tuple(names)
    environ = os.environ if environ is None else environ
    django = django or {}
    overrides = overrides or {}
    config_path = (
        config_file
        or overrides.get(CONFIG_FILE_VARIABLE)
        or environ.get(CONFIG_FILE_VARIABLE)
        or django.get(CONFIG_FILE_VARIABLE)
    )
    merged: dict[str, Any] = {}
    if config_path:
        merged.update(
            (name, value) for name, value in read_config_file(config_path).items() if name in names
        )
    for layer in (django, environ):
        merged.update((name, layer[name]) for name in names if layer.get(name) not in (None, ""))
    merged.update((name, value) for name, value in overrides.items() if name in names)
    return Settings(merged)
