"""document_exceptions.cli: the entry point, --help on every command, errors and exit codes,
and the deployed-environment plumbing shared by the commands (stack outputs, moto)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from document_exceptions import cli
from document_exceptions.ops.aws import (
    StackOutputs,
    boto3_client_factory,
    share_region_with_kafka_signer,
    stack_auth_mode,
)
from document_exceptions.ops.errors import OpsError
from document_exceptions.ops.target import resolve_target
from tests.ops_helpers import (
    REGION,
    STACK,
    client_factory,
    cloudformation_with_stack,
    cluster_outputs,
    create_secret,
    without_kafka_environment,
)

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("tail", "send", "replay", "doctor")
pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: document-exceptions {command}")
    assert "--stack" in text


def test_send_has_a_flag_for_every_contract_field_but_topic_and_key() -> None:
    from document_exceptions.contract import FIELDS  # noqa: PLC0415

    parser = cli.build_parser()
    for field in FIELDS:
        flag = "--" + field.replace("_", "-")
        if field == "key":
            with pytest.raises(SystemExit):
                parser.parse_args(["send", flag, "value"])
            continue
        args = parser.parse_args(["send", flag, "value"])
        if field == "topic":  # the destination, which the field must equal anyway
            assert args.topic == "value"
            assert not hasattr(args, "field_topic")
        else:
            assert getattr(args, f"field_{field}") == "value"


def test_installed_entry_point_and_module_both_run() -> None:
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = Path(sys.executable).parent / "document-exceptions"
    for command in ([str(script)], [sys.executable, "-m", "document_exceptions.cli"]):
        done = subprocess.run(
            [*command, "--help"],
            check=False,
            capture_output=True,
            text=True,
            env=environ,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert "tail" in done.stdout
        assert "doctor" in done.stdout


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_without_any_kafka_settings_the_error_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_kafka_environment(monkeypatch)
    assert cli.main(["tail", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert "no Kafka connection settings" in err
    assert "KAFKA_BOOTSTRAP_SERVERS" in err
    assert "--stack" in err


def test_a_malformed_kafka_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_kafka_environment(monkeypatch)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b-1:9096")  # not a JSON list
    assert cli.main(["tail", "--timeout", "1"]) == 1
    assert "KAFKA_BOOTSTRAP_SERVERS: not valid JSON" in capsys.readouterr().err


def test_bad_since_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", '["127.0.0.1:9"]')
    assert cli.main(["tail", "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err


# --- stack outputs ---------------------------------------------------------------------------


def outputs(**values: str) -> StackOutputs:
    return StackOutputs("DocumentExceptions-dev", values)


def test_an_output_is_found_by_its_id_or_by_its_cdk_logical_id() -> None:
    found = outputs(
        ScramSecretArn="arn:secret",
        ProducerQueueUrl0A1B2C3D="https://sqs/queue",
        ProducerRejectedQueueUrl9F8E7D6C="https://sqs/rejected",
        ProducerDeadLetterQueueUrlAAAA1111="https://sqs/dlq",
    )
    assert found.get("ScramSecretArn") == "arn:secret"
    assert found.get("QueueUrl") == "https://sqs/queue"
    assert found.get("RejectedQueueUrl") == "https://sqs/rejected"
    assert found.get("DeadLetterQueueUrl") == "https://sqs/dlq"
    assert found.get("TopicName") is None


def test_a_missing_output_names_the_output_the_flag_and_what_there_is() -> None:
    with pytest.raises(OpsError) as raised:
        outputs(ClusterArn="arn:cluster").require("QueueUrl", "--queue-url")
    assert "no output QueueUrl (or pass --queue-url)" in raised.value.message
    assert "ClusterArn" in (raised.value.hint or "")


def test_equally_good_output_candidates_are_an_error_not_a_guess() -> None:
    with pytest.raises(OpsError, match="several outputs"):
        outputs(AQueueUrl0A1B2C3D="one", BQueueUrl0A1B2C3D="two").get("QueueUrl")


@pytest.mark.usefixtures("fake_aws")
def test_a_missing_stack_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    clients = client_factory(cloudformation_with_stack(None, "DocumentExceptions-nope"))
    argv = ["tail", "--stack", "DocumentExceptions-nope", "--region", REGION]
    assert cli.main(argv, client_factory=clients) == 1
    err = capsys.readouterr().err
    assert "cannot read stack DocumentExceptions-nope" in err
    assert "does not exist" in err
    assert "cloudformation:DescribeStacks" in err


@pytest.mark.usefixtures("fake_aws")
def test_stack_target_reads_brokers_from_outputs_and_the_login_from_the_secret(
    secure_kafka_broker,
) -> None:
    arn = create_secret("ops-user", "ops-password")
    outputs = cluster_outputs(secure_kafka_broker, arn, TopicName="Exceptions-x")
    clients = client_factory(cloudformation_with_stack(outputs))

    target = resolve_target(stack=STACK, client_factory=clients)
    connection = target.connection()

    assert target.topic == "Exceptions-x"
    assert connection.bootstrap_servers == (secure_kafka_broker.bootstrap,)
    assert (connection.security_protocol, connection.sasl_mechanism) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
    )
    assert (connection.sasl_username, connection.sasl_password) == ("ops-user", "ops-password")
    assert "ops-password" not in connection.describe()


@pytest.mark.usefixtures("fake_aws")
def test_an_unreadable_secret_says_which_permissions_to_check(secure_kafka_broker) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:AmazonMSK_gone-AbCdEf"
    outputs = cluster_outputs(secure_kafka_broker, missing)
    clients = client_factory(cloudformation_with_stack(outputs))

    target = resolve_target(stack=STACK, client_factory=clients)
    with pytest.raises(OpsError) as raised:
        target.connection()
    assert "ResourceNotFoundException" in raised.value.message
    assert "secretsmanager:GetSecretValue" in (raised.value.hint or "")


@pytest.mark.usefixtures("fake_aws")
def test_default_aws_clients_give_up_within_seconds() -> None:
    secretsmanager = boto3_client_factory(REGION)("secretsmanager")
    config = secretsmanager.meta.config
    assert (config.connect_timeout, config.read_timeout) == (5, 10)
    assert config.retries["total_max_attempts"] == 3
    assert secretsmanager.meta.region_name == REGION


# --- region ------------------------------------------------------------------------------------

NO_REGION_LINE = "error: no AWS region: pass --region or set AWS_REGION"


@pytest.mark.usefixtures("no_aws_region")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_stack_without_any_region_is_one_line_saying_how_to_give_one(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_kafka_environment(monkeypatch)
    message = ["--order-req-id", "SB1029435"] if command == "send" else []

    code = cli.main([command, "--stack", STACK, *message])

    assert code == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"document-exceptions {command}: {NO_REGION_LINE}"]
    assert captured.out == ""


@pytest.mark.usefixtures("no_aws_region")
def test_aws_region_is_honoured_and_region_beats_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert boto3_client_factory()("sqs").meta.region_name == "ap-southeast-2"
    assert boto3_client_factory("eu-central-1")("sqs").meta.region_name == "eu-central-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")  # the AWS CLI's order: AWS_REGION first
    assert boto3_client_factory()("sqs").meta.region_name == "ap-southeast-2"


# --- version and help --------------------------------------------------------------------------


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version  # noqa: PLC0415

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert (
        capsys.readouterr().out.strip() == f"document-exceptions {version('document-exceptions')}"
    )


def help_examples(command: str, capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    """The example command lines of ``command --help``, as argument lists (before any pipe)."""
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = capsys.readouterr().out
    assert "\nexamples:\n" in text
    lines = text.split("\nexamples:\n", 1)[1].splitlines()
    return [shlex.split(line.split("|")[0])[1:] for line in lines if line.strip()]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_examples_that_parse(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = help_examples(command, capsys)
    assert examples
    for argv in examples:
        assert argv[0] == command
        cli.build_parser().parse_args(argv)  # SystemExit(2) if an example were wrong


def test_the_send_example_is_a_message_the_contract_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from document_exceptions.contract import FIELDS, ContractSettings  # noqa: PLC0415
    from document_exceptions.ops.send import prepare  # noqa: PLC0415

    argv = next(argv for argv in help_examples("send", capsys) if "--file" not in argv)
    args = cli.build_parser().parse_args(argv)
    flags = {name: getattr(args, f"field_{name}", None) for name in FIELDS}
    flags = {name: value for name, value in flags.items() if name not in ("topic", "key")}
    assert prepare(None, flags, ContractSettings()).message["order_req_id"] == "SB1029435"


def test_replay_help_does_not_offer_local_settings_for_the_stack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["replay", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "KAFKA_*" not in text
    assert "local" not in text
    assert "--queue-url or --queue-arn" in text


def test_error_texts_carry_no_python_class_names() -> None:
    import kafka.errors as kafka_errors  # noqa: PLC0415
    from botocore.exceptions import EndpointConnectionError  # noqa: PLC0415

    from document_exceptions.ops.aws import aws_error_text  # noqa: PLC0415
    from document_exceptions.ops.errors import error_text  # noqa: PLC0415

    unreachable = EndpointConnectionError(endpoint_url="https://sqs.eu-west-1.amazonaws.com/")
    assert aws_error_text(unreachable) == (
        'Could not connect to the endpoint URL: "https://sqs.eu-west-1.amazonaws.com/"'
    )
    assert error_text(kafka_errors.KafkaTimeoutError("no answer\nin 3 s")) == "no answer in 3 s"
    assert error_text(kafka_errors.UnknownTopicOrPartitionError()).startswith(
        "This request is for a topic or partition that does not exist"
    )
    assert error_text(OpsError("cannot read stack", "the name")) == "cannot read stack"


# --- IAM or SCRAM with --stack ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "environ", "output", "mode"),
    [
        (None, {}, None, "scram"),  # a stack deployed before IAM
        (None, {}, "iam", "iam"),
        (None, {"KAFKA_AUTH_MODE": "scram"}, "iam", "scram"),
        ("iam", {"KAFKA_AUTH_MODE": "scram"}, "scram", "iam"),
        (None, {"KAFKA_AUTH_MODE": ""}, "IAM", "iam"),
    ],
)
def test_the_auth_mode_is_the_flag_then_the_variable_then_the_stack_output(
    flag: str | None, environ: dict[str, str], output: str | None, mode: str
) -> None:
    values = {"KafkaAuthMode": output} if output else {}
    assert stack_auth_mode(outputs(**values), flag, environ) == mode


def test_an_unknown_auth_mode_names_where_it_came_from() -> None:
    with pytest.raises(OpsError, match="stack output KafkaAuthMode: 'mtls' is not one of"):
        stack_auth_mode(outputs(KafkaAuthMode="mtls"), None, {})
    with pytest.raises(OpsError, match="KAFKA_AUTH_MODE: 'x' is not one of iam, scram"):
        stack_auth_mode(outputs(), None, {"KAFKA_AUTH_MODE": "x"})


def test_region_and_profile_reach_the_kafka_signer_s_variables() -> None:
    environ = {"AWS_REGION": "eu-central-1"}
    share_region_with_kafka_signer(None, None, environ)
    assert environ["AWS_DEFAULT_REGION"] == "eu-central-1"
    share_region_with_kafka_signer("eu-west-3", "ops", environ)
    assert (environ["AWS_DEFAULT_REGION"], environ["AWS_PROFILE"]) == ("eu-west-3", "ops")
    untouched: dict[str, str] = {}
    share_region_with_kafka_signer(None, None, untouched)
    assert untouched == {}


def test_an_iam_stack_without_the_iam_broker_output_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_kafka_environment(monkeypatch)
    stack = cloudformation_with_stack({"KafkaAuthMode": "iam", "TopicName": "DocumentExceptions"})
    with pytest.raises(OpsError, match="has no output BootstrapBrokersSaslIam"):
        resolve_target(stack=STACK, client_factory=client_factory(stack))
