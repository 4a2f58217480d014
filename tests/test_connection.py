"""Where the Kafka connection comes from: KAFKA_* variables, config.json, Secrets Manager, MSK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from document_exceptions.connection import (
    ConfigurationError,
    ConnectionResolver,
    KafkaConnection,
    from_aws,
    from_environment,
    from_kafka_settings,
    parse_bootstrap_servers,
    parse_broker_string,
)

REGION = "eu-west-1"
CLUSTER_ARN = "arn:aws:kafka:eu-west-1:123456789012:cluster/document-exceptions-cluster/abc-1"
MSK_BROKERS = "b-1.dx.kafka.eu-west-1.amazonaws.com:9096,b-2.dx.kafka.eu-west-1.amazonaws.com:9096"
SASL_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": '["b-1.example:9096","b-2.example:9096"]',
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "your-username",
    "KAFKA_SASL_PASSWORD": "your-password",
}


def client_factory(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def create_secret(username: str = "producer", password: str = "s3cr3t-pw") -> str:  # noqa: S107
    response = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="AmazonMSK_document-exceptions",
        SecretString=json.dumps({"username": username, "password": password}),
    )
    return response["ARN"]


def configuration_error(call: Any, *args: Any, **kwargs: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as raised:
        call(*args, **kwargs)
    return raised.value


# --- the seed's variables -----------------------------------------------------------------


def test_the_seeds_production_variables() -> None:
    connection = from_environment(SASL_ENV)
    assert connection == KafkaConnection(
        bootstrap_servers=("b-1.example:9096", "b-2.example:9096"),
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="your-username",
        sasl_password="your-password",
    )
    assert connection is not None
    assert connection.client_kwargs() == {
        "bootstrap_servers": ["b-1.example:9096", "b-2.example:9096"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "your-username",
        "sasl_plain_password": "your-password",
    }


def test_plaintext_without_sasl_and_lower_case_values() -> None:
    connection = from_environment(
        {"KAFKA_BOOTSTRAP_SERVERS": '["localhost:9092"]', "KAFKA_SECURITY_PROTOCOL": ""}
    )
    assert connection == KafkaConnection(bootstrap_servers=("localhost:9092",))
    lower = from_kafka_settings(
        {**SASL_ENV, "KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "scram-sha-512"}
    )
    assert (lower.security_protocol, lower.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")


def test_nothing_configured_is_none() -> None:
    assert from_environment({}) is None


def test_the_password_never_shows_in_descriptions() -> None:
    connection = from_kafka_settings(SASL_ENV)
    assert "your-password" not in connection.describe()
    assert "your-password" not in repr(connection)
    assert "your-username" in connection.describe()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("b-1:9092", "not valid JSON"),
        ('{"a": 1}', "expected a non-empty JSON list"),
        ("[]", "expected a non-empty JSON list"),
        ('"localhost:9092"', "expected a non-empty JSON list"),
        ("[9092]", "9092 is not a 'host:port' string"),
        ('["localhost"]', "'localhost' is not a 'host:port' string"),
        ('["localhost:0"]', "is not a 'host:port' string"),
        ('["localhost:65536"]', "is not a 'host:port' string"),
        ('[":9092"]', "is not a 'host:port' string"),
    ],
)
def test_malformed_bootstrap_servers(raw: str, problem: str) -> None:
    error = configuration_error(parse_bootstrap_servers, raw)
    assert error.variable == "KAFKA_BOOTSTRAP_SERVERS"
    assert problem in str(error)
    assert str(error).startswith("KAFKA_BOOTSTRAP_SERVERS: ")


def test_bootstrap_servers_already_decoded_from_config_json() -> None:
    assert parse_bootstrap_servers(["a:1", "b:2"]) == ("a:1", "b:2")


@pytest.mark.parametrize(
    ("changes", "variable", "problem"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL", "'TLS' is not one of"),
        ({"KAFKA_SASL_MECHANISM": ""}, "KAFKA_SASL_MECHANISM", "required with SASL_SSL"),
        ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM", "'GSSAPI' is not one of"),
        ({"KAFKA_SASL_USERNAME": ""}, "KAFKA_SASL_USERNAME", "required with SASL_SSL"),
        ({"KAFKA_SASL_PASSWORD": ""}, "KAFKA_SASL_PASSWORD", "required with SASL_SSL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
            "KAFKA_SASL_MECHANISM",
            "set, but KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
        ),
        ({"KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "KAFKA_SSL_CAFILE", "is not a readable file"),
    ],
)
def test_malformed_seed_variables_name_the_variable(
    changes: dict[str, str], variable: str, problem: str
) -> None:
    error = configuration_error(from_environment, {**SASL_ENV, **changes})
    assert error.variable == variable
    assert problem in str(error)


def test_a_private_ca_file_is_passed_on(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text("-----BEGIN CERTIFICATE-----\n")
    connection = from_environment({**SASL_ENV, "KAFKA_SSL_CAFILE": str(cafile)})
    assert connection is not None
    assert connection.client_kwargs()["ssl_cafile"] == str(cafile)


# --- config.json --------------------------------------------------------------------------


def write_config(path: Path, **values: Any) -> Path:
    config = {
        "KAFKA_BOOTSTRAP_SERVERS": ["localhost:9092"],
        "KAFKA_SECURITY_PROTOCOL": "",
        "KAFKA_SASL_MECHANISM": "",
        "KAFKA_SASL_USERNAME": "",
        "KAFKA_SASL_PASSWORD": "",
        **values,
    }
    path.write_text(json.dumps(config))
    return path


def test_config_json_is_the_development_fallback(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json")
    assert from_environment({}, config) == KafkaConnection(bootstrap_servers=("localhost:9092",))


def test_the_environment_wins_over_config_json(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.json")
    connection = from_environment(SASL_ENV, config)
    assert connection is not None
    assert connection.bootstrap_servers == ("b-1.example:9096", "b-2.example:9096")
    assert connection.security_protocol == "SASL_SSL"


def test_config_json_fills_what_the_environment_leaves_out(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.json",
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME="dev",
        KAFKA_SASL_PASSWORD="dev-pw",
    )
    connection = from_environment(
        {"KAFKA_SASL_PASSWORD": "env-pw", "KAFKA_SASL_USERNAME": ""}, config
    )
    assert connection is not None
    assert (connection.sasl_username, connection.sasl_password) == ("dev", "env-pw")


def test_malformed_values_in_config_json_name_the_variable(tmp_path: Path) -> None:
    bad_servers = write_config(tmp_path / "servers.json", KAFKA_BOOTSTRAP_SERVERS="localhost:9092")
    assert (
        configuration_error(from_environment, {}, bad_servers).variable == "KAFKA_BOOTSTRAP_SERVERS"
    )


# --- AWS: Secrets Manager and the MSK API -------------------------------------------------


def test_msk_broker_string() -> None:
    assert parse_broker_string(MSK_BROKERS) == tuple(MSK_BROKERS.split(","))
    error = configuration_error(parse_broker_string, "b-1.example")
    assert error.variable == "KAFKA_BOOTSTRAP_BROKERS"


def test_aws_without_a_secret_arn_names_it() -> None:
    error = configuration_error(from_aws, {}, client_factory)
    assert error.variable == "KAFKA_SECRET_ARN"


@pytest.mark.usefixtures("fake_aws")
def test_aws_with_brokers_from_the_environment() -> None:
    arn = create_secret()
    connection = from_aws(
        {"KAFKA_SECRET_ARN": arn, "KAFKA_BOOTSTRAP_BROKERS": MSK_BROKERS}, client_factory
    )
    assert connection == KafkaConnection(
        bootstrap_servers=tuple(MSK_BROKERS.split(",")),
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="producer",
        sasl_password="s3cr3t-pw",
    )


@pytest.mark.usefixtures("fake_aws")
def test_aws_without_brokers_or_cluster_names_the_brokers_variable() -> None:
    error = configuration_error(from_aws, {"KAFKA_SECRET_ARN": create_secret()}, client_factory)
    assert error.variable == "KAFKA_BOOTSTRAP_BROKERS"
    assert "KAFKA_CLUSTER_ARN" in str(error)


@pytest.mark.usefixtures("fake_aws")
@pytest.mark.parametrize("secret", ["not json", '{"username": "u"}', '["u", "p"]'])
def test_a_secret_without_username_and_password(secret: str) -> None:
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="broken", SecretString=secret
    )["ARN"]
    environ = {"KAFKA_SECRET_ARN": arn, "KAFKA_BOOTSTRAP_BROKERS": MSK_BROKERS}
    error = configuration_error(from_aws, environ, client_factory)
    assert error.variable == "KAFKA_SECRET_ARN"
    assert "username" in str(error)


def stubbed_kafka(response: dict[str, Any]) -> tuple[Any, Stubber]:
    client = boto3.client("kafka", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response("get_bootstrap_brokers", response, {"ClusterArn": CLUSTER_ARN})
    stubber.activate()
    return client, stubber


@pytest.mark.usefixtures("fake_aws")
def test_brokers_from_get_bootstrap_brokers_when_only_the_cluster_is_known() -> None:
    arn = create_secret()
    kafka, stubber = stubbed_kafka({"BootstrapBrokerStringSaslScram": MSK_BROKERS})

    def factory(service: str) -> Any:
        return kafka if service == "kafka" else client_factory(service)

    connection = from_aws({"KAFKA_SECRET_ARN": arn, "KAFKA_CLUSTER_ARN": CLUSTER_ARN}, factory)
    assert connection.bootstrap_servers == tuple(MSK_BROKERS.split(","))
    stubber.assert_no_pending_responses()


@pytest.mark.usefixtures("fake_aws")
def test_a_cluster_without_scram_brokers_names_the_cluster_variable() -> None:
    arn = create_secret()
    kafka, _ = stubbed_kafka({"BootstrapBrokerStringTls": MSK_BROKERS.replace("9096", "9094")})

    def factory(service: str) -> Any:
        return kafka if service == "kafka" else client_factory(service)

    error = configuration_error(
        from_aws, {"KAFKA_SECRET_ARN": arn, "KAFKA_CLUSTER_ARN": CLUSTER_ARN}, factory
    )
    assert error.variable == "KAFKA_CLUSTER_ARN"
    assert "no SASL/SCRAM brokers" in str(error)


class CountingSecretsManager:
    """Counts GetSecretValue calls that reach (moto's) Secrets Manager, via botocore events."""

    def __init__(self) -> None:
        self.calls = 0

    def factory(self, service: str) -> Any:
        client = client_factory(service)
        if service == "secretsmanager":
            client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count)
        return client

    def _count(self, **_: Any) -> None:
        self.calls += 1


@pytest.mark.usefixtures("fake_aws")
def test_the_secret_is_fetched_once_per_container() -> None:
    arn = create_secret()
    counter = CountingSecretsManager()
    resolver = ConnectionResolver(
        {"KAFKA_SECRET_ARN": arn, "KAFKA_BOOTSTRAP_BROKERS": MSK_BROKERS},
        client_factory=counter.factory,
    )
    connections = {resolver.get() for _ in range(5)}
    assert len(connections) == 1
    assert counter.calls == 1
    assert resolver.lookups == 1


@pytest.mark.usefixtures("fake_aws")
def test_the_cluster_brokers_are_looked_up_once_per_container() -> None:
    arn = create_secret()
    kafka, stubber = stubbed_kafka({"BootstrapBrokerStringSaslScram": MSK_BROKERS})

    def factory(service: str) -> Any:
        return kafka if service == "kafka" else client_factory(service)

    resolver = ConnectionResolver(
        {"KAFKA_SECRET_ARN": arn, "KAFKA_CLUSTER_ARN": CLUSTER_ARN}, client_factory=factory
    )
    assert resolver.get() is resolver.get()
    stubber.assert_no_pending_responses()  # one response queued, one call made, none left over


@pytest.mark.usefixtures("fake_aws")
def test_invalidate_reads_a_rotated_secret_again() -> None:
    arn = create_secret(password="first")
    counter = CountingSecretsManager()
    resolver = ConnectionResolver(
        {"KAFKA_SECRET_ARN": arn, "KAFKA_BOOTSTRAP_BROKERS": MSK_BROKERS},
        client_factory=counter.factory,
    )
    assert resolver.get().sasl_password == "first"
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=arn, SecretString=json.dumps({"username": "producer", "password": "second"})
    )
    assert resolver.get().sasl_password == "first"
    resolver.invalidate()
    assert resolver.get().sasl_password == "second"
    assert counter.calls == 2


def test_seed_variables_take_precedence_over_aws_and_need_no_aws_call() -> None:
    def no_aws(service: str) -> Any:
        raise AssertionError(f"{service} must not be called")

    resolver = ConnectionResolver(
        {**SASL_ENV, "KAFKA_SECRET_ARN": "arn:unused"}, client_factory=no_aws
    )
    assert resolver.get().sasl_username == "your-username"


@pytest.mark.parametrize(
    "variable", ["KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME"]
)
def test_non_string_value_in_config_json_names_the_variable(tmp_path, variable):
    settings = {
        "KAFKA_BOOTSTRAP_SERVERS": ["localhost:9092"],
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "user",
        "KAFKA_SASL_PASSWORD": "secret",
        variable: 5,
    }
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(settings))
    with pytest.raises(ConfigurationError, match=f"^{variable}: expected a string, got int"):
        from_environment({}, config_file)


# --- the connection's own rules on security ------------------------------------------------


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "sasl_plaintext"])
def test_sasl_plain_without_tls_is_refused(protocol: str) -> None:
    error = configuration_error(
        from_kafka_settings,
        {**SASL_ENV, "KAFKA_SECURITY_PROTOCOL": protocol, "KAFKA_SASL_MECHANISM": "PLAIN"},
    )
    assert error.variable == "KAFKA_SASL_MECHANISM"
    assert "PLAIN sends the password as it is; use it with SASL_SSL" in str(error)
    assert "\n" not in str(error)


def test_sasl_plain_over_tls_and_scram_without_tls_are_accepted() -> None:
    over_tls = from_kafka_settings({**SASL_ENV, "KAFKA_SASL_MECHANISM": "PLAIN"})
    assert (over_tls.security_protocol, over_tls.sasl_mechanism) == ("SASL_SSL", "PLAIN")
    scram = from_kafka_settings({**SASL_ENV, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    assert scram.sasl_mechanism == "SCRAM-SHA-512"


def test_the_security_protocol_defaults_to_plaintext() -> None:
    for unset in ({}, {"KAFKA_SECURITY_PROTOCOL": ""}, {"KAFKA_SECURITY_PROTOCOL": "  "}):
        connection = from_kafka_settings({"KAFKA_BOOTSTRAP_SERVERS": '["h:9092"]', **unset})
        assert connection.security_protocol == "PLAINTEXT"


MSK_AT_9092 = json.dumps(
    [
        "b-1.dx.abc123.c2.kafka.eu-west-1.amazonaws.com:9092",
        "b-2.dx.abc123.c2.kafka.eu-west-1.amazonaws.com:9092",
    ]
)


def test_msk_brokers_at_9092_with_sasl_ssl_get_a_warning_naming_9096(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="document_exceptions.connection"):
        connection = from_kafka_settings({**SASL_ENV, "KAFKA_BOOTSTRAP_SERVERS": MSK_AT_9092})
    assert connection.bootstrap_servers[0].endswith(":9092")  # a warning, not a refusal
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert message.startswith("KAFKA_BOOTSTRAP_SERVERS: b-1.dx.abc123")
    assert "9096" in message
    assert "your-password" not in message


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "KAFKA_BOOTSTRAP_SERVERS": json.dumps([MSK_BROKERS.split(",", maxsplit=1)[0]])
        },  # 9096: right
        {"KAFKA_BOOTSTRAP_SERVERS": '["kafka.example.com:9092"]'},  # not an MSK host
        {  # MSK at 9092 in plaintext: the port is right for that protocol
            "KAFKA_BOOTSTRAP_SERVERS": MSK_AT_9092,
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "",
        },
    ],
    ids=["msk-9096", "other-host-9092", "msk-9092-plaintext"],
)
def test_no_port_warning_where_the_port_fits(
    overrides: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="document_exceptions.connection"):
        from_kafka_settings({**SASL_ENV, **overrides})
    assert not [record for record in caplog.records if "9096" in record.getMessage()]


# --- MSK IAM access control (KAFKA_AUTH_MODE=iam) --------------------------------------------

IAM_BROKERS = MSK_BROKERS.replace("9096", "9098")


def no_aws_call(service: str) -> Any:
    raise AssertionError(f"no {service} client expected")


def test_iam_mode_with_brokers_from_the_environment_reads_no_secret() -> None:
    environ = {"KAFKA_AUTH_MODE": "iam", "KAFKA_BOOTSTRAP_BROKERS": IAM_BROKERS}
    connection = from_aws(environ, no_aws_call)
    assert connection == KafkaConnection(
        bootstrap_servers=tuple(IAM_BROKERS.split(",")),
        security_protocol="SASL_SSL",
        sasl_mechanism="AWS_MSK_IAM",
    )
    assert connection.uses_iam
    kwargs = connection.client_kwargs()
    assert kwargs["sasl_mechanism"] == "AWS_MSK_IAM"
    assert "sasl_plain_username" not in kwargs
    assert "sasl_plain_password" not in kwargs
    assert "AWS_MSK_IAM with this process's AWS credentials" in connection.describe()


@pytest.mark.usefixtures("fake_aws")
def test_iam_mode_takes_the_iam_broker_string_from_get_bootstrap_brokers() -> None:
    kafka, stubber = stubbed_kafka(
        {"BootstrapBrokerStringSaslScram": MSK_BROKERS, "BootstrapBrokerStringSaslIam": IAM_BROKERS}
    )

    def factory(service: str) -> Any:
        assert service == "kafka", f"only kafka:GetBootstrapBrokers expected, not {service}"
        return kafka

    environ = {"KAFKA_AUTH_MODE": "IAM", "KAFKA_CLUSTER_ARN": CLUSTER_ARN}
    connection = from_aws(environ, factory)
    assert connection.bootstrap_servers == tuple(IAM_BROKERS.split(","))
    assert connection.sasl_mechanism == "AWS_MSK_IAM"
    stubber.assert_no_pending_responses()


@pytest.mark.usefixtures("fake_aws")
def test_iam_mode_on_a_cluster_without_iam_names_the_cluster_variable() -> None:
    kafka, _ = stubbed_kafka({"BootstrapBrokerStringSaslScram": MSK_BROKERS})
    environ = {"KAFKA_AUTH_MODE": "iam", "KAFKA_CLUSTER_ARN": CLUSTER_ARN}
    error = configuration_error(from_aws, environ, lambda service: kafka)
    assert error.variable == "KAFKA_CLUSTER_ARN"
    assert "no IAM brokers (is IAM access control on?)" in str(error)


def test_an_unknown_auth_mode_is_named() -> None:
    environ = {"KAFKA_AUTH_MODE": "mtls", "KAFKA_BOOTSTRAP_BROKERS": IAM_BROKERS}
    error = configuration_error(from_aws, environ, no_aws_call)
    assert error.variable == "KAFKA_AUTH_MODE"
    assert "'mtls' is not one of scram, iam" in str(error)


def test_scram_stays_the_default_when_the_mode_is_unset_or_empty() -> None:
    for environ in ({}, {"KAFKA_AUTH_MODE": ""}):
        error = configuration_error(
            from_aws, {**environ, "KAFKA_BOOTSTRAP_BROKERS": MSK_BROKERS}, no_aws_call
        )
        assert error.variable == "KAFKA_SECRET_ARN"


def test_the_seeds_variables_accept_aws_msk_iam_without_username_or_password() -> None:
    environ = {
        "KAFKA_BOOTSTRAP_SERVERS": '["b-1.example:9098"]',
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "aws_msk_iam",
        "KAFKA_SASL_USERNAME": "ignored",
    }
    connection = from_environment(environ)
    assert connection == KafkaConnection(
        bootstrap_servers=("b-1.example:9098",),
        security_protocol="SASL_SSL",
        sasl_mechanism="AWS_MSK_IAM",
    )


def test_the_seeds_aws_msk_iam_needs_sasl_ssl() -> None:
    environ = {
        "KAFKA_BOOTSTRAP_SERVERS": '["b-1.example:9098"]',
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "AWS_MSK_IAM",
    }
    error = configuration_error(from_environment, environ)
    assert error.variable == "KAFKA_SECURITY_PROTOCOL"
    assert "AWS_MSK_IAM needs SASL_SSL" in str(error)


def test_the_seeds_scram_variables_win_over_the_aws_side_auth_mode() -> None:
    """A Django app's environment with KAFKA_AUTH_MODE set (e.g. copied from a Lambda's)
    still signs in with its SCRAM user: the auth mode only chooses how AWS-side clients
    read the deployed settings."""
    resolver = ConnectionResolver(
        {**SASL_ENV, "KAFKA_AUTH_MODE": "iam"}, client_factory=no_aws_call
    )
    connection = resolver.get()
    assert connection.sasl_mechanism == "SCRAM-SHA-512"
    assert connection.sasl_username == "your-username"
    assert not connection.uses_iam
