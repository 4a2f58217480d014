"""Which Kafka cluster and topic a command talks to: local settings or a deployed stack.

- Local: the guide's ``KAFKA_*`` variables (or its ``config.json``), exactly as the app-side
  library and the producer Lambda read them locally.
- Deployed (``--stack``): with IAM (``--auth``, else ``KAFKA_AUTH_MODE``, else the stack's
  ``KafkaAuthMode`` output), the IAM broker string, signed in with the caller's AWS
  credentials; with SASL/SCRAM, the SASL/SCRAM broker string and the secret's ARN, the
  username and password read from the secret when first needed, and again after a rejected
  login (a rotated password), as in the producer Lambda.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from document_exceptions.connection import (
    BOOTSTRAP_BROKERS_VARIABLE,
    CAFILE_VARIABLE,
    SECRET_ARN_VARIABLE,
    ConfigurationError,
    ConnectionResolver,
    KafkaConnection,
)
from document_exceptions.contract import ContractError, ContractSettings
from document_exceptions.names import KAFKA_AUTH_IAM, KAFKA_AUTH_VARIABLE
from document_exceptions.ops.aws import (
    BROKERS_OUTPUT,
    IAM_BROKERS_OUTPUT,
    SECRET_ARN_OUTPUT,
    TOPIC_NAME_OUTPUT,
    TOPIC_PARTITIONS_OUTPUT,
    ClientFactory,
    StackOutputs,
    aws_error_text,
    stack_auth_mode,
)
from document_exceptions.ops.errors import OpsError

TOPIC_VARIABLE = "KAFKA_TOPIC"
# The partitions the stacks give the topic unless configured otherwise (stacks/config.py).
DEFAULT_PARTITIONS = 3
NO_CONNECTION_HINT = (
    "set KAFKA_BOOTSTRAP_SERVERS (a JSON list) and the other KAFKA_* variables, pass "
    "--config with the guide's config.json, or pass --stack (and --region) for a deployed "
    "environment"
)


def missing_topic_error(topic: str, *, deployed: bool) -> OpsError:
    """The topic is not on the brokers: where it should have come from, for this target."""
    if deployed:
        hint = (
            "the topic name (--topic) and that the topic bootstrap custom resource ran (the "
            "stack's events and its function's log): it creates the topic on deploy"
        )
    else:
        hint = (
            f"the topic name (--topic / {TOPIC_VARIABLE}), or create the topic first, e.g. "
            f"kafka-topics.sh --bootstrap-server HOST:PORT --create --topic {topic} "
            f"--partitions {DEFAULT_PARTITIONS}"
        )
    return OpsError(f"topic {topic} does not exist", hint)


class _CheckedResolver(ConnectionResolver):
    """A ConnectionResolver whose failures are OpsErrors with what to check."""

    def get(self) -> KafkaConnection:
        try:
            return super().get()
        except ConfigurationError as exc:
            raise OpsError(f"Kafka connection settings: {exc}", NO_CONNECTION_HINT) from None
        except OpsError:
            raise
        except Exception as exc:  # boto3 errors reading the secret
            raise OpsError(
                f"cannot read the Kafka login: {aws_error_text(exc)}",
                "your credentials may call secretsmanager:GetSecretValue on the secret and "
                "kms:Decrypt on its key",
            ) from None


@dataclass(frozen=True)
class Target:
    """Where to connect (lazily, through ``resolver``), the topic and how it is described."""

    resolver: ConnectionResolver
    contract: ContractSettings
    description: str
    expected_partitions: int | None = None
    deployed: bool = False

    @property
    def topic(self) -> str:
        return self.contract.topic

    def connection(self) -> KafkaConnection:
        return self.resolver.get()


def resolve_target(
    *,
    stack: str | None,
    client_factory: ClientFactory | None,
    topic: str | None = None,
    cafile: str | None = None,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    auth: str | None = None,
) -> Target:
    """The target of a command from its flags; see the module docstring."""
    environ = dict(os.environ if environ is None else environ)
    if stack is not None:
        if client_factory is None:
            raise OpsError("--stack needs AWS access", "boto3 is installed")
        outputs = StackOutputs.load(client_factory("cloudformation"), stack)
        if stack_auth_mode(outputs, auth, environ) == KAFKA_AUTH_IAM:
            resolver_environ = {
                KAFKA_AUTH_VARIABLE: KAFKA_AUTH_IAM,
                BOOTSTRAP_BROKERS_VARIABLE: outputs.require(IAM_BROKERS_OUTPUT),
            }
        else:
            resolver_environ = {
                SECRET_ARN_VARIABLE: outputs.require(SECRET_ARN_OUTPUT),
                BOOTSTRAP_BROKERS_VARIABLE: outputs.require(BROKERS_OUTPUT),
            }
        if cafile:
            resolver_environ[CAFILE_VARIABLE] = cafile
        resolver = _CheckedResolver(resolver_environ, client_factory=client_factory)
        topic = topic or outputs.get(TOPIC_NAME_OUTPUT)
        partitions = _partitions(outputs.get(TOPIC_PARTITIONS_OUTPUT), outputs.stack_name)
        description = f"stack {stack}"
        contract_environ: Mapping[str, str] = {}
    else:
        if cafile:
            environ[CAFILE_VARIABLE] = cafile
        if not environ.get("KAFKA_BOOTSTRAP_SERVERS") and config_file is None:
            raise OpsError("no Kafka connection settings", NO_CONNECTION_HINT)
        resolver = _CheckedResolver(environ, config_file=config_file, client_factory=_no_aws)
        partitions = None
        description = (
            "local settings (KAFKA_* variables)"
            if config_file is None
            else (f"local settings ({config_file})")
        )
        contract_environ = environ
    try:
        contract = ContractSettings.from_environment(contract_environ)
        if topic:
            contract = replace(contract, topic=topic)
    except ContractError as exc:
        raise OpsError(
            f"message settings: {exc}", "the --topic flag and MESSAGE_* variables"
        ) from None
    return Target(resolver, contract, description, partitions, deployed=stack is not None)


def _partitions(raw: str | None, stack_name: str) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise OpsError(
            f"stack {stack_name}: output {TOPIC_PARTITIONS_OUTPUT} {raw!r} is not a number"
        ) from None


def _no_aws(service: str) -> Any:
    raise OpsError(
        f"local settings are incomplete: KAFKA_BOOTSTRAP_SERVERS is not set (would need {service})",
        NO_CONNECTION_HINT,
    )
