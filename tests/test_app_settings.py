"""document_exceptions.app.settings: every configuration error names its variable; precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from document_exceptions.app.settings import AppSettings, load_settings, merged_settings
from document_exceptions.connection import ConfigurationError

BROKERS = '["b-1.example:9096", "b-2.example:9096"]'


@pytest.fixture
def base(tmp_path: Path) -> dict[str, str]:
    """A valid minimal configuration (kafka transport, spool in a temp dir)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": BROKERS,
        "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path / "spool"),
    }


def load(values: dict[str, str]) -> AppSettings:
    return load_settings(environ=values, django={})


def test_a_minimal_configuration_gets_the_documented_defaults(base: dict[str, str]) -> None:
    settings = load(base)
    assert settings.transport == "kafka"
    assert settings.connection.bootstrap_servers == ("b-1.example:9096", "b-2.example:9096")
    assert settings.connection.security_protocol == "PLAINTEXT"
    assert settings.contract.topic == "DocumentExceptions"
    assert settings.contract.default_source == "django_s3_app"
    assert settings.buffer_size == 10_000
    assert settings.full_buffer_policy == "spool"
    assert settings.spool_dir.is_dir()
    assert settings.orders_api.url is None


def test_the_seeds_production_variables_give_a_sasl_scram_connection(
    base: dict[str, str], tmp_path: Path
) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load(
        {
            **base,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "app",
            "KAFKA_SASL_PASSWORD": "s3cret-value",
            "KAFKA_SSL_CAFILE": str(cafile),
        }
    )
    kwargs = settings.connection.client_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "app"
    assert kwargs["ssl_cafile"] == str(cafile)
    assert "s3cret-value" not in settings.describe()
    assert "s3cret-value" not in repr(settings)


BAD_VALUES = [
    ({"KAFKA_BOOTSTRAP_SERVERS": "b-1:9096"}, "KAFKA_BOOTSTRAP_SERVERS", "not valid JSON"),
    ({"KAFKA_BOOTSTRAP_SERVERS": '"b-1:9096"'}, "KAFKA_BOOTSTRAP_SERVERS", "list"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "[]"}, "KAFKA_BOOTSTRAP_SERVERS", "non-empty"),
    ({"KAFKA_BOOTSTRAP_SERVERS": '["b-1"]'}, "KAFKA_BOOTSTRAP_SERVERS", "host:port"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "[9096]"}, "KAFKA_BOOTSTRAP_SERVERS", "host:port"),
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL", "not one of"),
    (
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"},
        "KAFKA_SASL_MECHANISM",
        "required with SASL_SSL",
    ),
    (
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
        "KAFKA_SASL_MECHANISM",
        "not one of",
    ),
    (
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"},
        "KAFKA_SASL_USERNAME",
        "required",
    ),
    (
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "u",
        },
        "KAFKA_SASL_PASSWORD",
        "required",
    ),
    ({"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}, "KAFKA_SASL_MECHANISM", "no SASL"),
    ({"KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "KAFKA_SSL_CAFILE", "not a readable file"),
    ({"KAFKA_TOPIC": "bad topic!"}, "KAFKA_TOPIC", "not a Kafka topic name"),
    ({"MESSAGE_KEY_BY": "random"}, "MESSAGE_KEY_BY", "not one of"),
    ({"MESSAGE_MAX_RECORD_BYTES": "lots"}, "MESSAGE_MAX_RECORD_BYTES", "not a whole number"),
    ({"MESSAGE_MAX_RECORD_BYTES": "100"}, "MESSAGE_MAX_RECORD_BYTES", ">="),
    ({"DOCUMENT_EXCEPTIONS_TRANSPORT": "http"}, "DOCUMENT_EXCEPTIONS_TRANSPORT", "not one of"),
    (
        {"DOCUMENT_EXCEPTIONS_TRANSPORT": "lambda"},
        "DOCUMENT_EXCEPTIONS_LAMBDA_FUNCTION",
        "required with DOCUMENT_EXCEPTIONS_TRANSPORT=lambda",
    ),
    ({"DOCUMENT_EXCEPTIONS_BUFFER_SIZE": "big"}, "DOCUMENT_EXCEPTIONS_BUFFER_SIZE", "whole"),
    ({"DOCUMENT_EXCEPTIONS_BUFFER_SIZE": "0"}, "DOCUMENT_EXCEPTIONS_BUFFER_SIZE", "out of range"),
    ({"DOCUMENT_EXCEPTIONS_BUFFER_SIZE": "1.5"}, "DOCUMENT_EXCEPTIONS_BUFFER_SIZE", "whole"),
    (
        {"DOCUMENT_EXCEPTIONS_FULL_BUFFER_POLICY": "block"},
        "DOCUMENT_EXCEPTIONS_FULL_BUFFER_POLICY",
        "not one of",
    ),
    ({"PRODUCER_DELIVERY_TIMEOUT_MS": "soon"}, "PRODUCER_DELIVERY_TIMEOUT_MS", "whole number"),
    (
        {"PRODUCER_DELIVERY_TIMEOUT_MS": "100"},
        "PRODUCER_DELIVERY_TIMEOUT_MS",
        "linger_ms + request_timeout_ms",
    ),
    ({"PRODUCER_COMPRESSION_TYPE": "brotli"}, "PRODUCER_COMPRESSION_TYPE", "not one of"),
    ({"PRODUCER_ENABLE_IDEMPOTENCE": "maybe"}, "PRODUCER_ENABLE_IDEMPOTENCE", "true or false"),
    (
        {"PRODUCER_MAX_REQUEST_SIZE": "20000", "PRODUCER_BATCH_SIZE": "16384"},
        "PRODUCER_MAX_REQUEST_SIZE",
        "MESSAGE_MAX_RECORD_BYTES",
    ),
    (
        {"DOCUMENT_EXCEPTIONS_REPLAY_INTERVAL": "nan"},
        "DOCUMENT_EXCEPTIONS_REPLAY_INTERVAL",
        "not a finite number",
    ),
    ({"DOCUMENT_EXCEPTIONS_EXIT_TIMEOUT": "-1"}, "DOCUMENT_EXCEPTIONS_EXIT_TIMEOUT", "range"),
    ({"DOCUMENT_ORDERS_API_URL": "ftp://orders"}, "DOCUMENT_ORDERS_API_URL", "http(s) URL"),
    ({"DOCUMENT_ORDERS_API_URL": "orders.local/api"}, "DOCUMENT_ORDERS_API_URL", "http(s)"),
    ({"DOCUMENT_ORDERS_API_TIMEOUT": "0"}, "DOCUMENT_ORDERS_API_TIMEOUT", "out of range"),
    ({"DOCUMENT_ORDERS_API_MAX_ATTEMPTS": "11"}, "DOCUMENT_ORDERS_API_MAX_ATTEMPTS", "range"),
    ({"DOCUMENT_ORDERS_API_MAX_ATTEMPTS": "three"}, "DOCUMENT_ORDERS_API_MAX_ATTEMPTS", "whole"),
]


@pytest.mark.parametrize(
    ("values", "variable", "problem"), BAD_VALUES, ids=[v for _, v, _ in BAD_VALUES]
)
def test_a_malformed_value_is_an_error_naming_the_variable(
    base: dict[str, str], values: dict[str, str], variable: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load({**base, **values})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")
    assert problem in str(raised.value)


def test_kafka_transport_without_brokers_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load({"DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path)})
    assert raised.value.variable == "KAFKA_BOOTSTRAP_SERVERS"


def test_a_spool_dir_that_cannot_be_a_directory_is_an_error(base: dict[str, str]) -> None:
    blocker = Path(base["DOCUMENT_EXCEPTIONS_SPOOL_DIR"]).parent / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigurationError) as raised:
        load({**base, "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(blocker / "spool")})
    assert raised.value.variable == "DOCUMENT_EXCEPTIONS_SPOOL_DIR"


def test_an_unknown_override_is_an_error_naming_it(base: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings({"KAFKA_BOOTSTRAP_SERVER": BROKERS}, environ=base, django={})
    assert raised.value.variable == "KAFKA_BOOTSTRAP_SERVER"


def test_a_setting_of_the_wrong_type_in_django_settings_is_an_error(
    base: dict[str, str],
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(environ=base, django={"DOCUMENT_EXCEPTIONS_TRANSPORT": ["kafka"]})
    assert raised.value.variable == "DOCUMENT_EXCEPTIONS_TRANSPORT"


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "not found"), ("{not json", "not valid JSON"), ("[1, 2]", "JSON object")],
)
def test_a_broken_config_file_is_an_error_naming_the_variable(
    base: dict[str, str], tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError) as raised:
        load({**base, "DOCUMENT_EXCEPTIONS_CONFIG_FILE": str(path)})
    assert raised.value.variable == "DOCUMENT_EXCEPTIONS_CONFIG_FILE"
    assert problem in str(raised.value)


def not_a_small_json_file(kind: str, folder: Path) -> Path:
    if kind == "directory":
        return folder
    if kind == "dev-zero":
        return Path("/dev/zero")
    latin1 = folder / "config.json"
    latin1.write_bytes('{"KAFKA_TOPIC": "café"}'.encode("latin-1"))
    return latin1


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("directory", "is a directory"), ("dev-zero", "is a device"), ("latin-1", "not UTF-8")],
)
def test_a_config_file_that_is_not_a_small_json_file_names_the_variable(
    base: dict[str, str], tmp_path: Path, kind: str, problem: str
) -> None:
    path = not_a_small_json_file(kind, tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        load({**base, "DOCUMENT_EXCEPTIONS_CONFIG_FILE": str(path)})
    assert raised.value.variable == "DOCUMENT_EXCEPTIONS_CONFIG_FILE"
    assert problem in str(raised.value)


def test_env_wins_over_django_which_wins_over_config_json(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "KAFKA_BOOTSTRAP_SERVERS": ["from-config:9092"],
                "KAFKA_SECURITY_PROTOCOL": "",
                "KAFKA_TOPIC": "FromConfig",
                "DOCUMENT_EXCEPTIONS_BUFFER_SIZE": 7,
                "DOCUMENT_ORDERS_API_URL": "http://from-config/api",
            }
        )
    )
    environ = {
        "DOCUMENT_EXCEPTIONS_CONFIG_FILE": str(config),
        "KAFKA_BOOTSTRAP_SERVERS": '["from-env:9092"]',
        "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path / "spool"),
    }
    django = {
        "KAFKA_BOOTSTRAP_SERVERS": ["from-django:9092"],
        "KAFKA_TOPIC": "FromDjango",
        "UNRELATED_DJANGO_SETTING": "ignored",
    }
    settings = load_settings(environ=environ, django=django)
    assert settings.connection.bootstrap_servers == ("from-env:9092",)
    assert settings.contract.topic == "FromDjango"
    assert settings.buffer_size == 7
    assert settings.orders_api.url == "http://from-config/api"


def test_code_overrides_win_over_the_environment(base: dict[str, str]) -> None:
    settings = load_settings({"KAFKA_TOPIC": "FromCode"}, environ={**base, "KAFKA_TOPIC": "Env"})
    assert settings.contract.topic == "FromCode"


def test_the_seeds_development_config_json_is_accepted_as_is(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "KAFKA_BOOTSTRAP_SERVERS": ["localhost:9092"],
                "KAFKA_SECURITY_PROTOCOL": "",
                "KAFKA_SASL_MECHANISM": "",
                "KAFKA_SASL_USERNAME": "",
                "KAFKA_SASL_PASSWORD": "",
            }
        )
    )
    settings = load_settings(
        environ={"DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path)}, django={}, config_file=config
    )
    assert settings.connection.bootstrap_servers == ("localhost:9092",)
    assert settings.connection.sasl_mechanism is None


def test_the_lambda_transport_needs_no_kafka_settings(tmp_path: Path) -> None:
    settings = load(
        {
            "DOCUMENT_EXCEPTIONS_TRANSPORT": "LAMBDA",
            "DOCUMENT_EXCEPTIONS_LAMBDA_FUNCTION": "document-exceptions-producer",
            "DOCUMENT_EXCEPTIONS_SPOOL_DIR": str(tmp_path),
        }
    )
    assert settings.transport == "lambda"
    assert settings.connection is None
    assert settings.lambda_function == "document-exceptions-producer"


def test_empty_values_fall_through_to_the_next_source(tmp_path: Path) -> None:
    values = merged_settings(
        environ={"KAFKA_TOPIC": "", "KAFKA_BOOTSTRAP_SERVERS": '["a:1"]'},
        django={"KAFKA_TOPIC": "FromDjango"},
    )
    assert values.raw("KAFKA_TOPIC") == "FromDjango"
